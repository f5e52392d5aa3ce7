use super::*;
use embedded_hal::i2c::NoAcknowledgeSource;
use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
use embedgrad_core::{Matrix, NodeId};
use embedgrad_ops::prelude::*;
use embedgrad_train::init::Init;
use embedgrad_train::source::{Event, Labelled, OnlineTrainer, Stats};
use embedgrad_train::{Adam, Feeds, Optimizer, SplitMix64};

/// A delay that adds up what it was asked to wait.
#[derive(Default)]
struct Clock(u64);
impl DelayNs for Clock {
    fn delay_ns(&mut self, ns: u32) {
        self.0 += u64::from(ns);
    }
}

fn read(addr: u8, reg: u8, bytes: [u8; 6]) -> Transaction {
    Transaction::write_read(addr, vec![reg], bytes.to_vec())
}

#[test]
fn mpu6050_big_endian_decoding() {
    let mut i2c = Mock::new(&[
        read(0x68, 0x3B, [0x40, 0x00, 0xC0, 0x00, 0x7F, 0xFF]),
        read(0x68, 0x3B, [0x80, 0x00, 0x00, 0x01, 0xFF, 0xFF]),
    ]);
    let mut a = Accelerometer::new(i2c.clone(), Clock::default(), AccelConfig::mpu6050());
    let mut row = [0.0f64; 3];
    assert_eq!(a.read_sample(&mut row), Ok(None));
    assert_eq!(row, [1.0, -1.0, 32767.0 / 16384.0]);
    assert_eq!(a.read_raw(), Ok([i16::MIN, 1, -1]));
    assert_eq!((a.errors(), a.last_error()), (0, None));
    i2c.done();
}

#[test]
fn lis3dh_little_endian_window_with_pacing() {
    let cfg = AccelConfig::lis3dh().with_window(2, 1000);
    let mut i2c = Mock::new(&[
        read(0x18, 0xA8, [0x00, 0x40, 0x00, 0xE0, 0x10, 0x00]),
        read(0x18, 0xA8, [0x00, 0x20, 0x00, 0x00, 0x00, 0xC0]),
    ]);
    let mut a = Accelerometer::new(i2c.clone(), Clock::default(), cfg);
    assert_eq!(SampleSource::<f32>::dim(&a), 6);
    let mut row = [0.0f32; 6];
    assert_eq!(a.read_sample(&mut row), Ok(None));
    assert_eq!(row, [1.0, -0.5, 16.0 / 16384.0, 0.5, 0.0, -1.0]);
    // One pause between the two readings of the window, none before the first.
    let (_, clock) = a.release();
    assert_eq!(clock.0, 1_000_000);
    i2c.done();
}

#[test]
fn write_register_is_one_write() {
    let mut i2c = Mock::new(&[Transaction::write(0x68, vec![0x6B, 0x00])]);
    let mut a = Accelerometer::new(i2c.clone(), Clock::default(), AccelConfig::mpu6050());
    assert_eq!(a.write_register(0x6B, 0x00), Ok(()));
    i2c.done();
}

#[test]
fn wrong_buffer_touches_no_bus() {
    let mut i2c = Mock::new(&[]);
    let mut a = Accelerometer::new(i2c.clone(), Clock::default(), AccelConfig::mpu6050());
    assert_eq!(
        a.read_sample(&mut [0.0f32; 4]),
        Err(Error::LengthMismatch {
            expected: 3,
            found: 4
        })
    );
    i2c.done();
}

#[test]
fn bus_errors_are_source_errors_with_their_kind() {
    let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
    let mut i2c = Mock::new(&[
        read(0x68, 0x3B, [0; 6]).with_error(nack),
        Transaction::write(0x68, vec![0x6B, 0x00]).with_error(ErrorKind::ArbitrationLoss),
        read(0x68, 0x3B, [0, 1, 0, 2, 0, 3]),
    ]);
    let mut a = Accelerometer::new(i2c.clone(), Clock::default(), AccelConfig::mpu6050());
    let mut row = [0.0f32; 3];
    assert_eq!(a.read_sample(&mut row), Err(Error::Source));
    assert_eq!((a.errors(), a.last_error()), (1, Some(nack)));
    assert_eq!(a.write_register(0x6B, 0), Err(Error::Source));
    assert_eq!(a.last_error(), Some(ErrorKind::ArbitrationLoss));
    // The bus works again: so does the source.
    assert_eq!(a.read_raw(), Ok([1, 2, 3]));
    assert_eq!(a.errors(), 2);
    i2c.done();
}

#[test]
fn a_failure_in_the_second_reading_of_a_window_fails_the_sample() {
    let cfg = AccelConfig::mpu6050().with_window(2, 0);
    let mut i2c = Mock::new(&[
        read(0x68, 0x3B, [0, 1, 0, 1, 0, 1]),
        read(0x68, 0x3B, [0; 6]).with_error(ErrorKind::Bus),
    ]);
    let mut a = Accelerometer::new(i2c.clone(), Clock::default(), cfg);
    assert_eq!(a.read_sample(&mut [0.0f32; 6]), Err(Error::Source));
    assert_eq!(a.last_error(), Some(ErrorKind::Bus));
    let (_, clock) = a.release();
    assert_eq!(clock.0, 0); // period 0: no pause
    i2c.done();
}

#[test]
fn labelled_source_labels_only_successful_reads() {
    let mut i2c = Mock::new(&[
        read(0x68, 0x3B, [0; 6]).with_error(ErrorKind::Other),
        read(0x68, 0x3B, [0; 6]),
    ]);
    let accel = Accelerometer::new(i2c.clone(), Clock::default(), AccelConfig::mpu6050());
    let mut calls = 0;
    let mut s = Labelled::new(accel, || {
        calls += 1;
        Some(1)
    });
    assert_eq!(s.read_sample(&mut [0.0f32; 3]), Err(Error::Source));
    assert_eq!(s.read_sample(&mut [0.0f32; 3]), Ok(Some(1)));
    assert_eq!(s.inner().errors(), 1);
    drop(s);
    assert_eq!(calls, 1);
    i2c.done();
}

/// A 3-feature, 2-class logistic regression over batches of `B` rows.
struct Net<const B: usize> {
    g: Box<StdGraph<f64, 8, 64>>,
    feeds: Feeds,
    logits: NodeId,
}

fn net<const B: usize>() -> Net<B> {
    let mut rng = SplitMix64::new(5);
    let mut g: Box<StdGraph<f64, 8, 64>> = Box::new(StdGraph::new());
    let x = g.placeholder::<B, 3>().unwrap();
    let y = g.placeholder::<B, 1>().unwrap();
    let w = g
        .variable(&Init::XavierUniform.matrix::<f64, 3, 2>(&mut rng))
        .unwrap();
    let b = g.variable(&Matrix::<f64, 1, 2>::zeros()).unwrap();
    let xw = g.matmul(x, w).unwrap();
    let logits = g.add(xw, b).unwrap();
    let loss = g.sparse_softmax_cross_entropy(logits, y).unwrap();
    let feeds = Feeds {
        x: x.id(),
        y: y.id(),
        loss: loss.id(),
    };
    Net {
        g,
        feeds,
        logits: logits.id(),
    }
}

fn variables(g: &mut StdGraph<f64, 8, 64>) -> Vec<f64> {
    let mut out = Vec::new();
    g.for_each_variable(|v| {
        out.extend_from_slice(v.value);
        Ok::<(), ()>(())
    })
    .unwrap();
    out
}

#[test]
fn bus_error_mid_stream_leaves_training_state_intact() {
    // Six readings; the fourth fails. Batches of 2: r1 r2 → step, r3 buffered, r4 fails,
    // r5 completes the batch (r3, r5) → step, r6 buffered.
    let r = [
        [0x40, 0x00, 0x00, 0x00, 0x00, 0x00], // x = 1 g
        [0xC0, 0x00, 0x00, 0x00, 0x00, 0x00], // x = −1 g
        [0x00, 0x00, 0x40, 0x00, 0x20, 0x00], // y = 1, z = 0.5
        [0x00; 6],
        [0x00, 0x00, 0x00, 0x00, 0xE0, 0x00], // z = −0.5
        [0x20, 0x00, 0x20, 0x00, 0x20, 0x00],
    ];
    let mut i2c = Mock::new(&[
        read(0x68, 0x3B, r[0]),
        read(0x68, 0x3B, r[1]),
        read(0x68, 0x3B, r[2]),
        read(0x68, 0x3B, r[3]).with_error(ErrorKind::Overrun),
        read(0x68, 0x3B, r[4]),
        read(0x68, 0x3B, r[5]),
    ]);
    let accel = Accelerometer::new(i2c.clone(), Clock::default(), AccelConfig::mpu6050());
    let mut labels = [1u8, 0, 1, 0, 1].into_iter();
    let mut sensor = Labelled::new(accel, move || labels.next());

    let Net {
        mut g,
        feeds,
        logits,
    } = net::<2>();
    let mut t: OnlineTrainer<f64, 2, 3> = OnlineTrainer::new(&*g, feeds, logits).unwrap();
    let mut opt: Adam<f64, 8> = Adam::new(0.05);

    assert_eq!(
        t.poll(&mut sensor, &mut g, &mut opt),
        Ok(Event::Buffered { filled: 1 })
    );
    assert!(matches!(
        t.poll(&mut sensor, &mut g, &mut opt),
        Ok(Event::Trained { .. })
    ));
    assert_eq!(
        t.poll(&mut sensor, &mut g, &mut opt),
        Ok(Event::Buffered { filled: 1 })
    );

    // The failing read.
    let vars = variables(&mut g);
    let (state, count) = (opt.state().to_vec(), opt.update_count());
    let (stats, running) = (*t.stats(), *t.running());
    assert_eq!(t.poll(&mut sensor, &mut g, &mut opt), Err(Error::Source));
    assert_eq!(sensor.inner().last_error(), Some(ErrorKind::Overrun));
    assert_eq!(variables(&mut g), vars);
    assert_eq!((opt.state(), opt.update_count()), (&state[..], count));
    assert_eq!(t.buffered(), 1);
    assert_eq!(*t.running(), running);
    assert_eq!(
        *t.stats(),
        Stats {
            source_errors: 1,
            ..stats
        }
    );

    // Training carries on with the sample buffered before the failure.
    let Ok(Event::Trained { loss, .. }) = t.poll(&mut sensor, &mut g, &mut opt) else {
        panic!("the fifth reading completes the batch");
    };
    assert!(loss.is_finite() && loss > 0.0);
    assert_eq!(
        g.value_slice(feeds.x).unwrap(),
        &[0.0, 1.0, 0.5, 0.0, 0.0, -0.5]
    );
    // Labels are drawn for successful reads only: r3 got the third, r5 the fourth.
    assert_eq!(g.value_slice(feeds.y).unwrap(), &[1.0, 0.0]);
    assert_ne!(variables(&mut g), vars);
    assert_eq!(opt.update_count(), count + 1);
    assert_eq!(
        t.poll(&mut sensor, &mut g, &mut opt),
        Ok(Event::Buffered { filled: 1 })
    );
    assert_eq!(
        *t.stats(),
        Stats {
            labelled: 5,
            unlabelled: 0,
            steps: 2,
            source_errors: 1,
            failed_steps: 0
        }
    );
    assert_eq!(t.running().total(), 4);
    i2c.done();
}

#[test]
fn unlabelled_samples_are_classified_not_learned() {
    let mut i2c = Mock::new(&[
        read(0x68, 0x3B, [0x40, 0, 0, 0, 0, 0]),
        read(0x68, 0x3B, [0x20, 0, 0x10, 0, 0x30, 0]),
    ]);
    let mut accel = Accelerometer::new(i2c.clone(), Clock::default(), AccelConfig::mpu6050());
    let Net {
        mut g,
        feeds,
        logits,
    } = net::<2>();
    let mut t: OnlineTrainer<f64, 2, 3> = OnlineTrainer::new(&*g, feeds, logits).unwrap();
    let mut opt: Adam<f64, 8> = Adam::new(0.05);
    let vars = variables(&mut g);
    for features in [[1.0, 0.0, 0.0], [0.5, 0.25, 0.75]] {
        let Ok(Event::Predicted { class }) = t.poll(&mut accel, &mut g, &mut opt) else {
            panic!("an unlabelled reading is classified");
        };
        assert_eq!(t.predict(&mut g, &features), Ok(class));
        // Independently: the argmax of x·W + b.
        let w = g.value_slice(g.node_at(2).unwrap()).unwrap().to_vec();
        let b = g.value_slice(g.node_at(3).unwrap()).unwrap().to_vec();
        let score = |k: usize| (0..3).map(|i| features[i] * w[i * 2 + k]).sum::<f64>() + b[k];
        assert_eq!(class, usize::from(score(1) > score(0)));
    }
    assert_eq!(variables(&mut g), vars);
    assert_eq!(
        (t.buffered(), t.stats().unlabelled, opt.update_count()),
        (0, 2, 0)
    );
    i2c.done();
}
