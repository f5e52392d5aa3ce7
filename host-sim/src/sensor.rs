//! Online learning from a simulated sensor: a software MPU-6050 accelerometer that speaks the
//! `embedded-hal` 1.0 [`I2c`] trait, a simulated hand performing two gestures, and the demo of
//! `embedgrad-sim sensor-demo`, which learns to tell the gestures apart from live readings
//! through exactly the code a firmware would run ([`Accelerometer`], [`Labelled`],
//! [`OnlineTrainer`]).
//!
//! - **The device** ([`SimMpu6050`]) answers at address `0x68` with the MPU-6050's register
//!   map for what the demo uses: `WHO_AM_I` (`0x75` = `0x68`), `PWR_MGMT_1` (`0x6B`; it starts
//!   asleep, reading zeros, like the real part) and the six bytes of `ACCEL_XOUT_H..ZOUT_L`
//!   (`0x3B`, big-endian, 16384 counts per g). A seeded fraction of transactions fails with
//!   a bus error ([`ErrorKind::Bus`]), before any side effect.
//! - **The hand** ([`World`]): gesture 0, *tilt*, holds the board tipped 35–60° to one side
//!   and drifts slowly; gesture 1, *shake*, holds it flat and shakes it along X (3–6 Hz,
//!   0.4–1 g) with some Y. Every reading gets noise. Time advances only through the delay
//!   ([`SimDelay`]) the accelerometer adapter waits between the readings of a window.
//! - **The demo** ([`run_demo`]): each sample is a window of 8 readings 20 ms apart (24
//!   features), labelled by the gesture the hand performs (the "button"); a 24-16-2 tanh
//!   network learns online in mini-batches of 4 with Adam. After every failed read it checks
//!   that the weights and Adam's state did not change. Then it classifies fresh, unlabelled
//!   gestures.
//!
//! ```
//! use embedgrad_host_sim::sensor::{run_demo, DemoConfig};
//! let s = run_demo(&DemoConfig { samples: 300, ..DemoConfig::default() }, |_| {})?;
//! assert!(s.bus_errors > 0 && s.state_checks == s.bus_errors);
//! assert!(s.test_accuracy() > 0.9);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use embedgrad_core::{Error, Matrix};
use embedgrad_drivers::{AccelConfig, Accelerometer};
use embedgrad_ops::prelude::*;
use embedgrad_train::init::Init;
use embedgrad_train::source::{Event, Labelled, OnlineTrainer};
use embedgrad_train::{Adam, Feeds, Optimizer, SplitMix64};
use std::cell::RefCell;
use std::f64::consts::PI;
use std::rc::Rc;

/// The MPU-6050's I2C address (AD0 low).
pub const ADDRESS: u8 = 0x68;
/// `WHO_AM_I` register; reads `0x68`.
pub const WHO_AM_I: u8 = 0x75;
/// `PWR_MGMT_1` register; bit 6 (`0x40`) is SLEEP, set at power-on.
pub const PWR_MGMT_1: u8 = 0x6B;
/// First accelerometer data register, `ACCEL_XOUT_H`.
pub const ACCEL_XOUT_H: u8 = 0x3B;

/// Counts per g at ±2 g full scale.
const COUNTS_PER_G: f64 = 16384.0;

/// The two gestures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gesture {
    /// Board tipped to one side, drifting slowly (class 0).
    Tilt,
    /// Board flat, shaken along X (class 1).
    Shake,
}

impl Gesture {
    /// The class label.
    pub fn label(self) -> u8 {
        match self {
            Gesture::Tilt => 0,
            Gesture::Shake => 1,
        }
    }
}

#[derive(Debug)]
struct Hand {
    time_s: f64,
    gesture: Gesture,
    /// Tilt angle (rad) or shake amplitude (g).
    size: f64,
    /// Shake frequency (Hz) or drift frequency.
    freq: f64,
    phase: f64,
    noise: f64,
    rng: SplitMix64,
}

/// The simulated hand and clock, shared by the device, the delay and the labeller.
#[derive(Clone, Debug)]
pub struct World(Rc<RefCell<Hand>>);

impl World {
    /// A hand at rest (tilt 0) with noise of `noise` g per axis, drawing from `seed`.
    pub fn new(seed: u64, noise: f64) -> Self {
        World(Rc::new(RefCell::new(Hand {
            time_s: 0.0,
            gesture: Gesture::Tilt,
            size: 0.0,
            freq: 0.0,
            phase: 0.0,
            noise,
            rng: SplitMix64::new(seed),
        })))
    }

    /// Starts a new instance of `gesture` with fresh random parameters.
    pub fn begin(&self, gesture: Gesture) {
        let mut h = self.0.borrow_mut();
        let (u, v, w) = (h.rng.uniform(), h.rng.uniform(), h.rng.uniform());
        h.gesture = gesture;
        match gesture {
            Gesture::Tilt => {
                let side = if u < 0.5 { -1.0 } else { 1.0 };
                h.size = side * (35.0 + 25.0 * v).to_radians();
                h.freq = 0.3 + 0.4 * w;
            }
            Gesture::Shake => {
                h.size = 0.4 + 0.6 * u;
                h.freq = 3.0 + 3.0 * v;
            }
        }
        h.phase = 2.0 * PI * h.rng.uniform();
    }

    /// Draws a gesture at random (each with probability ½).
    pub fn random_gesture(&self) -> Gesture {
        if self.0.borrow_mut().rng.uniform() < 0.5 {
            Gesture::Tilt
        } else {
            Gesture::Shake
        }
    }

    /// The gesture being performed.
    pub fn gesture(&self) -> Gesture {
        self.0.borrow().gesture
    }

    /// Simulated seconds so far.
    pub fn time(&self) -> f64 {
        self.0.borrow().time_s
    }

    fn advance(&self, seconds: f64) {
        self.0.borrow_mut().time_s += seconds;
    }

    /// The acceleration (in g) the board feels now, noise included.
    pub fn acceleration(&self) -> [f64; 3] {
        let mut h = self.0.borrow_mut();
        let t = h.time_s;
        let clean = match h.gesture {
            Gesture::Tilt => {
                let theta = h.size + 0.08 * (2.0 * PI * h.freq * t + h.phase).sin();
                [
                    theta.sin(),
                    0.05 * (2.0 * PI * h.freq * t).cos(),
                    theta.cos(),
                ]
            }
            Gesture::Shake => {
                let s = 2.0 * PI * h.freq * t + h.phase;
                [h.size * s.sin(), 0.3 * h.size * (s + 1.0).sin(), 1.0]
            }
        };
        let noise = h.noise;
        let mut out = [0.0; 3];
        for (o, c) in out.iter_mut().zip(clean) {
            *o = c + noise * h.rng.normal();
        }
        out
    }
}

/// A delay that advances the [`World`]'s clock instead of waiting.
#[derive(Clone, Debug)]
pub struct SimDelay(pub World);

impl DelayNs for SimDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.advance(f64::from(ns) * 1e-9);
    }
}

/// A software MPU-6050 on a simulated I2C bus (see the module docs).
#[derive(Debug)]
pub struct SimMpu6050 {
    world: World,
    pointer: u8,
    awake: bool,
    data: [u8; 6],
    error_rate: f64,
    errors: SplitMix64,
    transactions: u64,
    injected: u64,
}

impl SimMpu6050 {
    /// A device (asleep, as at power-on) measuring `world`, failing a fraction `error_rate`
    /// of its transactions, chosen by a generator seeded with `error_seed`.
    pub fn new(world: World, error_rate: f64, error_seed: u64) -> Self {
        Self {
            world,
            pointer: 0,
            awake: false,
            data: [0; 6],
            error_rate,
            errors: SplitMix64::new(error_seed),
            transactions: 0,
            injected: 0,
        }
    }

    /// Transactions addressed to the device.
    pub fn transactions(&self) -> u64 {
        self.transactions
    }

    /// Bus errors injected so far.
    pub fn injected_errors(&self) -> u64 {
        self.injected
    }

    /// Latches a new reading into the data registers.
    fn sample(&mut self) {
        let a = if self.awake {
            self.world.acceleration()
        } else {
            [0.0; 3]
        };
        for (k, g) in a.into_iter().enumerate() {
            let counts = (g * COUNTS_PER_G)
                .round()
                .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
            self.data[2 * k..2 * k + 2].copy_from_slice(&counts.to_be_bytes());
        }
    }

    fn read_register(&mut self, reg: u8) -> u8 {
        match reg {
            WHO_AM_I => ADDRESS,
            PWR_MGMT_1 => {
                if self.awake {
                    0x00
                } else {
                    0x40
                }
            }
            0x3B..=0x40 => self.data[usize::from(reg - ACCEL_XOUT_H)],
            _ => 0,
        }
    }

    fn write_register(&mut self, reg: u8, value: u8) {
        if reg == PWR_MGMT_1 {
            self.awake = value & 0x40 == 0;
        }
    }
}

impl ErrorType for SimMpu6050 {
    type Error = ErrorKind;
}

impl I2c for SimMpu6050 {
    fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        if address != ADDRESS {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        self.transactions += 1;
        if self.errors.uniform() < self.error_rate {
            self.injected += 1;
            return Err(ErrorKind::Bus);
        }
        for op in ops {
            match op {
                Operation::Write(bytes) => {
                    if let Some((&reg, values)) = bytes.split_first() {
                        self.pointer = reg;
                        for &v in values {
                            self.write_register(self.pointer, v);
                            self.pointer = self.pointer.wrapping_add(1);
                        }
                    }
                }
                Operation::Read(buf) => {
                    if self.pointer == ACCEL_XOUT_H {
                        self.sample();
                    }
                    for b in buf.iter_mut() {
                        *b = self.read_register(self.pointer);
                        self.pointer = self.pointer.wrapping_add(1);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Readings per sample.
pub const WINDOW: usize = 8;
/// Features per sample (X, Y, Z per reading).
pub const FEATURES: usize = 3 * WINDOW;
/// Hidden units.
pub const HIDDEN: usize = 16;
/// Labelled samples per optimizer step.
pub const BATCH: usize = 4;
/// Trainable scalars of the 24-16-2 network.
pub const PARAMETERS: usize = FEATURES * HIDDEN + HIDDEN + HIDDEN * 2 + 2;
/// Nodes of the demo's graph.
pub const NODES: usize = 12;
/// Scalars of the demo's graph: the placeholders, and a value and a gradient for the
/// variables, the hidden layer's `matmul`, `add`, `tanh`, the output's `matmul`, `add` and the
/// loss.
pub const SCALARS: usize =
    BATCH * FEATURES + BATCH + 2 * (PARAMETERS + 3 * BATCH * HIDDEN + 2 * BATCH * 2 + 1);

/// Settings of [`run_demo`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DemoConfig {
    /// Labelled gestures to learn from (reads attempted; failed reads are dropped).
    pub samples: usize,
    /// Fresh unlabelled gestures classified at the end.
    pub test_samples: usize,
    /// Seed of the hand, the weights and the injected errors.
    pub seed: u64,
    /// Fraction of I2C transactions that fail.
    pub error_rate: f64,
    /// Noise per axis, in g.
    pub noise: f64,
    /// Report progress every this many samples.
    pub report_every: usize,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            samples: 600,
            test_samples: 200,
            seed: 7,
            error_rate: 0.002,
            noise: 0.05,
            report_every: 50,
        }
    }
}

/// A progress report, every [`DemoConfig::report_every`] samples and at each bus error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// After `sample` reads.
    Status {
        /// Reads attempted so far.
        sample: usize,
        /// Accuracy of the predictions made before learning, over the last `window`.
        running_accuracy: f64,
        /// Predictions in the window.
        window: u32,
        /// Optimizer steps so far.
        steps: u64,
        /// Failed reads so far.
        bus_errors: u64,
    },
    /// Read `sample` failed with a bus error of this kind; the weights and the optimizer's
    /// state were checked to be unchanged.
    BusError {
        /// The read that failed.
        sample: usize,
        /// What the bus reported.
        kind: ErrorKind,
    },
}

/// What [`run_demo`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DemoSummary {
    /// Reads attempted while learning.
    pub samples: usize,
    /// Labelled samples learned from.
    pub labelled: u64,
    /// Optimizer steps.
    pub steps: u64,
    /// Failed reads while learning (each sample dropped).
    pub bus_errors: u64,
    /// Failed reads after which the weights and Adam's state were verified unchanged.
    pub state_checks: u64,
    /// Running accuracy (last 64 predictions before learning) at the end.
    pub running_accuracy: f64,
    /// Accuracy of the first 64 predictions (the untrained model's, mostly).
    pub first_accuracy: f64,
    /// Accuracy of all predictions made before learning.
    pub overall_accuracy: f64,
    /// Fresh gestures classified correctly at the end.
    pub test_correct: usize,
    /// Fresh gestures classified.
    pub test_total: usize,
    /// Failed reads during the final classification (retried).
    pub test_bus_errors: u64,
    /// Simulated seconds of readings (to the millisecond).
    pub simulated_seconds: f64,
}

impl DemoSummary {
    /// `test_correct / test_total`.
    pub fn test_accuracy(&self) -> f64 {
        self.test_correct as f64 / self.test_total.max(1) as f64
    }
}

fn fingerprint(g: &mut StdGraph<f32, NODES, SCALARS>, opt: &Adam<f32, PARAMETERS>) -> Vec<u32> {
    let mut bits = Vec::with_capacity(3 * PARAMETERS + 1);
    let _ = g.for_each_variable(|v| {
        bits.extend(v.value.iter().map(|x| x.to_bits()));
        Ok::<(), ()>(())
    });
    bits.extend(opt.state().iter().map(|x| x.to_bits()));
    bits.push(opt.update_count());
    bits
}

/// Runs the demo (see the module docs), reporting through `progress`.
///
/// # Errors
/// [`Error::Source`] if waking the device fails five times in a row; graph errors (none
/// expected); [`Error::InvalidArgument`] if a failed read changed the weights or the
/// optimizer's state (the check this demo exists to show).
pub fn run_demo(
    cfg: &DemoConfig,
    mut progress: impl FnMut(&Progress),
) -> Result<DemoSummary, Error> {
    let world = World::new(cfg.seed, cfg.noise);
    let device = SimMpu6050::new(world.clone(), cfg.error_rate, cfg.seed ^ 0xB05E);
    let config = AccelConfig::mpu6050().with_window(WINDOW, 20_000);
    let mut accel = Accelerometer::new(device, SimDelay(world.clone()), config);
    // Wake the part (PWR_MGMT_1 ← 0), retrying a few times on the flaky bus.
    let mut woke = Err(Error::Source);
    for _ in 0..5 {
        woke = accel.write_register(PWR_MGMT_1, 0x00);
        if woke.is_ok() {
            break;
        }
    }
    woke?;
    let labeller = world.clone();
    let mut sensor = Labelled::new(accel, move || Some(labeller.gesture().label()));

    // 24-16-2 with tanh, batches of 4, Adam.
    let mut rng = SplitMix64::new(cfg.seed);
    let mut g: Box<StdGraph<f32, NODES, SCALARS>> = Box::new(StdGraph::new());
    let x = g.placeholder::<BATCH, FEATURES>()?;
    let y = g.placeholder::<BATCH, 1>()?;
    let w1 = g.variable(&Init::XavierUniform.matrix::<f32, FEATURES, HIDDEN>(&mut rng))?;
    let b1 = g.variable(&Matrix::<f32, 1, HIDDEN>::zeros())?;
    let w2 = g.variable(&Init::XavierUniform.matrix::<f32, HIDDEN, 2>(&mut rng))?;
    let b2 = g.variable(&Matrix::<f32, 1, 2>::zeros())?;
    let h = g.matmul(x, w1)?;
    let h = g.add(h, b1)?;
    let h = g.tanh(h)?;
    let o = g.matmul(h, w2)?;
    let logits = g.add(o, b2)?;
    let loss = g.sparse_softmax_cross_entropy(logits, y)?;
    let feeds = Feeds {
        x: x.id(),
        y: y.id(),
        loss: loss.id(),
    };
    let mut trainer: OnlineTrainer<f32, BATCH, FEATURES> =
        OnlineTrainer::new(&*g, feeds, logits.id())?;
    let mut opt: Adam<f32, PARAMETERS> = Adam::new(0.01);

    let mut first_accuracy = None;
    let mut state_checks = 0;
    for sample in 1..=cfg.samples {
        world.begin(world.random_gesture());
        let before = fingerprint(&mut g, &opt);
        match trainer.poll(&mut sensor, &mut g, &mut opt) {
            Ok(_) => {}
            Err(Error::Source) => {
                if fingerprint(&mut g, &opt) != before {
                    return Err(Error::InvalidArgument);
                }
                state_checks += 1;
                let kind = sensor.inner().last_error().unwrap_or(ErrorKind::Other);
                progress(&Progress::BusError { sample, kind });
            }
            Err(e) => return Err(e),
        }
        if first_accuracy.is_none() && trainer.running().total() >= 64 {
            first_accuracy = Some(trainer.running().accuracy());
        }
        if cfg.report_every > 0 && sample % cfg.report_every == 0 {
            progress(&Progress::Status {
                sample,
                running_accuracy: trainer.running().accuracy(),
                window: trainer.running().window(),
                steps: trainer.stats().steps,
                bus_errors: trainer.stats().source_errors,
            });
        }
    }

    // Fresh gestures, unlabelled: the bare accelerometer gives no label, so the trainer only
    // classifies them.
    let mut test_correct = 0;
    let mut test_bus_errors = 0;
    for _ in 0..cfg.test_samples {
        let gesture = world.random_gesture();
        world.begin(gesture);
        let class = loop {
            match trainer.poll(sensor.inner_mut(), &mut g, &mut opt) {
                Ok(Event::Predicted { class }) => break class,
                Ok(_) => return Err(Error::InvalidArgument),
                Err(Error::Source) => test_bus_errors += 1,
                Err(e) => return Err(e),
            }
        };
        test_correct += usize::from(class == usize::from(gesture.label()));
    }

    let stats = *trainer.stats();
    Ok(DemoSummary {
        samples: cfg.samples,
        labelled: stats.labelled,
        steps: stats.steps,
        bus_errors: stats.source_errors - test_bus_errors,
        state_checks,
        running_accuracy: trainer.running().accuracy(),
        first_accuracy: first_accuracy.unwrap_or(trainer.running().accuracy()),
        overall_accuracy: trainer.running().overall(),
        test_correct,
        test_total: cfg.test_samples,
        test_bus_errors,
        simulated_seconds: (world.time() * 1e3).round() / 1e3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_exact() {
        let mut g: Box<StdGraph<f32, 32, 4096>> = Box::new(StdGraph::new());
        let mut rng = SplitMix64::new(1);
        let x = g.placeholder::<BATCH, FEATURES>().unwrap();
        let y = g.placeholder::<BATCH, 1>().unwrap();
        let w1 = g
            .variable(&Init::XavierUniform.matrix::<f32, FEATURES, HIDDEN>(&mut rng))
            .unwrap();
        let b1 = g.variable(&Matrix::<f32, 1, HIDDEN>::zeros()).unwrap();
        let w2 = g
            .variable(&Init::XavierUniform.matrix::<f32, HIDDEN, 2>(&mut rng))
            .unwrap();
        let b2 = g.variable(&Matrix::<f32, 1, 2>::zeros()).unwrap();
        let h = g.matmul(x, w1).unwrap();
        let h = g.add(h, b1).unwrap();
        let h = g.tanh(h).unwrap();
        let o = g.matmul(h, w2).unwrap();
        let logits = g.add(o, b2).unwrap();
        g.sparse_softmax_cross_entropy(logits, y).unwrap();
        let r = g.requirements();
        assert_eq!((r.nodes, r.scalars), (NODES, SCALARS));
        assert_eq!(g.variable_scalars(), PARAMETERS);
    }

    #[test]
    fn device_registers() {
        let world = World::new(1, 0.0);
        let mut dev = SimMpu6050::new(world.clone(), 0.0, 1);
        let mut b = [0u8; 1];
        dev.write_read(ADDRESS, &[WHO_AM_I], &mut b).unwrap();
        assert_eq!(b, [0x68]);
        dev.write_read(ADDRESS, &[PWR_MGMT_1], &mut b).unwrap();
        assert_eq!(b, [0x40]); // asleep at power-on
        let mut data = [0xAAu8; 6];
        dev.write_read(ADDRESS, &[ACCEL_XOUT_H], &mut data).unwrap();
        assert_eq!(data, [0; 6]); // asleep: zeros
        dev.write(ADDRESS, &[PWR_MGMT_1, 0x00]).unwrap();
        world.begin(Gesture::Shake);
        dev.write_read(ADDRESS, &[ACCEL_XOUT_H], &mut data).unwrap();
        let z = i16::from_be_bytes([data[4], data[5]]);
        assert_eq!(z, 16384); // no noise: exactly 1 g on Z when shaking flat
        assert_eq!(
            dev.write_read(0x69, &[WHO_AM_I], &mut b),
            Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))
        );
    }

    #[test]
    fn injected_errors_have_no_side_effect() {
        let world = World::new(1, 0.0);
        let mut dev = SimMpu6050::new(world, 1.0, 1);
        assert_eq!(dev.write(ADDRESS, &[PWR_MGMT_1, 0x00]), Err(ErrorKind::Bus));
        assert!(!dev.awake);
        assert_eq!(dev.injected_errors(), 1);
    }

    #[test]
    fn gestures_differ_as_described() {
        let world = World::new(3, 0.0);
        for _ in 0..20 {
            world.begin(Gesture::Tilt);
            let [x, _, z] = world.acceleration();
            // Tipped 35–60° (± 0.08 rad of drift): |X| = |sin θ| > 0.45, Z = cos θ in (0.4, 0.9).
            assert!(x.abs() > 0.45 && z < 0.9 && z > 0.4, "{x} {z}");
            world.begin(Gesture::Shake);
            let [x, _, z] = world.acceleration();
            assert!(x.abs() <= 1.0 && z == 1.0);
        }
    }
}
