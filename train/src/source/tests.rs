use super::*;
use crate::init::Init;
use crate::{Adam, SplitMix64};
use embedgrad_core::{Matrix, Origin};
use embedgrad_ops::prelude::*;

#[test]
fn running_accuracy() {
    let mut acc = RunningAccuracy::new();
    assert_eq!((acc.accuracy(), acc.overall(), acc.window()), (0.0, 0.0, 0));
    acc.record(true);
    acc.record(false);
    acc.record(true);
    assert_eq!((acc.window(), acc.accuracy()), (3, 2.0 / 3.0));
    for _ in 0..64 {
        acc.record(true);
    }
    assert_eq!((acc.window(), acc.accuracy()), (64, 1.0));
    assert_eq!((acc.correct(), acc.total()), (66, 67));
    acc.record(false);
    assert_eq!(acc.accuracy(), 63.0 / 64.0);
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
fn new_checks_the_shapes() {
    let Net { g, feeds, logits } = net::<2>();
    assert!(OnlineTrainer::<f64, 2, 3>::new(&*g, feeds, logits).is_ok());
    assert!(matches!(
        OnlineTrainer::<f64, 2, 4>::new(&*g, feeds, logits),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        OnlineTrainer::<f64, 3, 3>::new(&*g, feeds, logits),
        Err(Error::ShapeMismatch { .. })
    ));
    let swapped = Feeds {
        x: feeds.y,
        y: feeds.x,
        loss: feeds.loss,
    };
    assert!(OnlineTrainer::<f64, 2, 3>::new(&*g, swapped, logits).is_err());
}

/// A source of given rows and labels.
struct Rows(Vec<([f64; 3], Option<u8>)>);
impl SampleSource<f64> for Rows {
    fn dim(&self) -> usize {
        3
    }
    fn read_sample(&mut self, out: &mut [f64]) -> Result<Option<u8>, Error> {
        let (row, label) = self.0.remove(0);
        out.copy_from_slice(&row);
        Ok(label)
    }
}

/// A source of rows wider than the trainer's (6 features, never read).
struct Wide;
impl SampleSource<f64> for Wide {
    fn dim(&self) -> usize {
        6
    }
    fn read_sample(&mut self, _: &mut [f64]) -> Result<Option<u8>, Error> {
        unreachable!("a source of the wrong width is refused before it is read")
    }
}

#[test]
fn bad_labels_and_dimensions_are_refused() {
    let Net {
        mut g,
        feeds,
        logits,
    } = net::<2>();
    let mut t: OnlineTrainer<f64, 2, 3> = OnlineTrainer::new(&*g, feeds, logits).unwrap();
    let mut opt: Adam<f64, 8> = Adam::new(0.05);
    let mut src = Rows(vec![([1.0; 3], Some(0)), ([1.0; 3], Some(2))]);
    assert_eq!(
        t.poll(&mut src, &mut g, &mut opt),
        Ok(Event::Buffered { filled: 1 })
    );
    assert_eq!(
        t.poll(&mut src, &mut g, &mut opt),
        Err(Error::InvalidArgument)
    );
    assert_eq!((t.buffered(), t.stats().labelled), (1, 1));
    let mut wide = Wide;
    assert_eq!(
        t.poll(&mut wide, &mut g, &mut opt),
        Err(Error::LengthMismatch {
            expected: 3,
            found: 6
        })
    );
}

#[test]
fn a_non_finite_step_drops_the_batch_and_changes_no_variable() {
    let Net {
        mut g,
        feeds,
        logits,
    } = net::<2>();
    let mut t: OnlineTrainer<f64, 2, 3> = OnlineTrainer::new(&*g, feeds, logits).unwrap();
    let mut opt: Adam<f64, 8> = Adam::new(0.05);
    let vars = variables(&mut g);
    let mut src = Rows(vec![
        ([1.0; 3], Some(0)),
        ([f64::INFINITY; 3], Some(1)),
        ([1.0; 3], Some(1)),
    ]);
    t.poll(&mut src, &mut g, &mut opt).unwrap();
    assert!(matches!(
        t.poll(&mut src, &mut g, &mut opt),
        Err(Error::NonFinite {
            origin: Origin::Feed,
            node: Some(_)
        })
    ));
    assert_eq!(variables(&mut g), vars);
    assert_eq!((t.buffered(), t.stats().failed_steps), (0, 1));
    assert_eq!(opt.update_count(), 0);
    assert_eq!(
        t.poll(&mut src, &mut g, &mut opt),
        Ok(Event::Buffered { filled: 1 })
    );
}
