use super::*;
use crate::{Adam, GradientDescent, Optimizer};
use embedgrad_core::{Origin, PlanOptions};
use embedgrad_ops::StdGraph;

const ACTS: [Activation; 5] = [
    Activation::Identity,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Relu,
    Activation::LeakyRelu(0.1),
];
const LOSSES: [Loss; 4] = [
    Loss::SoftmaxCrossEntropy,
    Loss::SparseSoftmaxCrossEntropy,
    Loss::SigmoidBinaryCrossEntropy,
    Loss::MeanSquaredError,
];

fn net(a: Activation, b: Activation) -> Mlp<3> {
    Mlp::new(
        5,
        [
            DenseSpec::new(7, a),
            DenseSpec::new(4, b),
            DenseSpec::new(3, Activation::Identity),
        ],
    )
}

#[test]
fn capacity_is_exact_for_every_activation_and_loss() {
    const B: usize = 6;
    for (i, &a) in ACTS.iter().enumerate() {
        let b = ACTS[(i + 2) % ACTS.len()];
        for &loss in &LOSSES {
            let spec = net(a, b);
            let cap = spec.capacity(B, loss);
            let mut g: Box<StdGraph<f64, 32, 4096>> = Box::new(StdGraph::new());
            let m: Model<B, 5, 3, 3> = spec.build(&mut g, loss, &mut SplitMix64::new(1)).unwrap();
            let r = g.requirements();
            assert_eq!(
                (r.nodes, r.scalars),
                (cap.nodes, cap.scalars),
                "{a:?} {b:?} {loss:?}"
            );
            assert_eq!(cap.parameters, spec.parameters());
            assert_eq!(cap.parameters, 5 * 7 + 7 + 7 * 4 + 4 + 4 * 3 + 3);
            assert_eq!(g.variable_scalars(), cap.parameters);
            assert_eq!(m.trainable_parameters(&g).unwrap(), cap.parameters);

            let inf = spec.inference_capacity(B, loss);
            let mut g: Box<StdGraph<f64, 32, 4096>> = Box::new(StdGraph::new());
            let m: Model<B, 5, 3, 3> = spec
                .build_inference(&mut g, loss, &mut SplitMix64::new(1))
                .unwrap();
            let r = g.requirements();
            assert_eq!(
                (r.nodes, r.scalars),
                (inf.nodes, inf.scalars),
                "{a:?} {b:?} {loss:?}"
            );
            assert_eq!(inf.parameters, 0);
            assert_eq!(m.trainable_parameters(&g).unwrap(), 0);
        }
    }
}

#[test]
fn a_graph_of_exactly_the_capacity_builds_and_one_less_does_not() {
    const NET: Mlp<2> = Mlp::new(
        3,
        [
            DenseSpec::new(4, Activation::Relu),
            DenseSpec::new(2, Activation::Identity),
        ],
    );
    const CAP: Capacity = NET.capacity(2, Loss::SparseSoftmaxCrossEntropy);
    let mut g: StdGraph<f32, { CAP.nodes }, { CAP.scalars }> = StdGraph::new();
    let m: Model<2, 3, 2, 2> = NET
        .build(
            &mut g,
            Loss::SparseSoftmaxCrossEntropy,
            &mut SplitMix64::new(3),
        )
        .unwrap();
    m.feed_labels(&mut g, &[[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], &[1, 0])
        .unwrap();
    assert!(GradientDescent::new(0.1).minimize(&mut g, m.loss).is_ok());

    let mut small: StdGraph<f32, { CAP.nodes }, { CAP.scalars - 1 }> = StdGraph::new();
    let m: Model<2, 3, 2, 2> = NET
        .build(
            &mut small,
            Loss::SparseSoftmaxCrossEntropy,
            &mut SplitMix64::new(3),
        )
        .unwrap(); // the fixed values fit; the run's buffers do not
    m.feed_labels(&mut small, &[[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], &[1, 0])
        .unwrap();
    assert_eq!(
        GradientDescent::new(0.1).minimize(&mut small, m.loss),
        Err(Error::ScalarCapacity {
            needed: CAP.scalars,
            capacity: CAP.scalars - 1,
            partial: false
        })
    );
}

#[test]
fn wrong_widths_are_refused_before_building() {
    let spec = net(Activation::Relu, Activation::Relu);
    let mut g: Box<StdGraph<f64, 32, 4096>> = Box::new(StdGraph::new());
    let r: Result<Model<2, 4, 3, 3>, _> =
        spec.build(&mut g, Loss::MeanSquaredError, &mut SplitMix64::new(1));
    assert_eq!(
        r,
        Err(Error::ShapeMismatch {
            expected: Shape::new(5, 3),
            found: Shape::new(4, 3)
        })
    );
    let r: Result<Model<2, 5, 2, 3>, _> =
        spec.build(&mut g, Loss::MeanSquaredError, &mut SplitMix64::new(1));
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
    assert!(g.is_empty());
}

#[test]
fn torch_indices_count_activations_as_modules() {
    let a = net(Activation::Relu, Activation::Tanh);
    assert_eq!(
        [a.torch_index(0), a.torch_index(1), a.torch_index(2)],
        [0, 2, 4]
    );
    let b = net(Activation::Identity, Activation::Sigmoid);
    assert_eq!(
        [b.torch_index(0), b.torch_index(1), b.torch_index(2)],
        [0, 1, 3]
    );
    let mut g: Box<StdGraph<f64, 32, 4096>> = Box::new(StdGraph::new());
    let m: Model<1, 5, 3, 3> = b
        .build(&mut g, Loss::MeanSquaredError, &mut SplitMix64::new(1))
        .unwrap();
    assert_eq!(m.layers.map(|l| l.torch_index), [0, 1, 3]);
    assert_eq!(m.layers.map(|l| l.inputs), [5, 7, 4]);
}

/// `act(x W + b)` written out in f64, for one row.
fn reference_row(g: &StdGraph<f64, 32, 4096>, layers: &[Layer], row: &[f64]) -> std::vec::Vec<f64> {
    let mut h = row.to_vec();
    for l in layers {
        let w = g.value_slice(l.weight).unwrap();
        let b = g.value_slice(l.bias).unwrap();
        let out = l.spec.outputs;
        let mut z: std::vec::Vec<f64> = b.to_vec();
        for (i, &x) in h.iter().enumerate() {
            for (j, zj) in z.iter_mut().enumerate() {
                *zj += x * w[i * out + j];
            }
        }
        for v in &mut z {
            *v = match l.spec.activation {
                Activation::Identity => *v,
                Activation::Sigmoid => 1.0 / (1.0 + (-*v).exp()),
                Activation::Tanh => v.tanh(),
                Activation::Relu => v.max(0.0),
                Activation::LeakyRelu(s) => {
                    if *v > 0.0 {
                        *v
                    } else {
                        s * *v
                    }
                }
            };
        }
        h = z;
    }
    h
}

#[test]
fn predictions_are_the_layers_written_out_for_full_and_partial_batches() {
    for (i, &a) in ACTS.iter().enumerate() {
        let spec = net(a, ACTS[(i + 1) % ACTS.len()]);
        let mut g: Box<StdGraph<f64, 32, 4096>> = Box::new(StdGraph::new());
        let m: Model<4, 5, 3, 3> = spec
            .build(&mut g, Loss::SoftmaxCrossEntropy, &mut SplitMix64::new(9))
            .unwrap();
        let mut rng = SplitMix64::new(5);
        let rows: [[f64; 5]; 4] = core::array::from_fn(|_| core::array::from_fn(|_| rng.normal()));
        let mut full = [[0.0; 3]; 4];
        assert_eq!(m.predict(&mut g, &rows, &mut full).unwrap(), 4);
        for (row, out) in rows.iter().zip(&full) {
            let want = reference_row(&g, &m.layers, row);
            for (o, w) in out.iter().zip(&want) {
                assert!(
                    (o - w).abs() <= 1e-12 * w.abs().max(1.0),
                    "{a:?}: {o} vs {w}"
                );
            }
        }
        // A partial batch: the same rows' outputs, bit for bit (rows are independent).
        let mut part = [[0.0; 3]; 2];
        assert_eq!(m.predict(&mut g, &rows[1..3], &mut part).unwrap(), 2);
        assert_eq!(part, [full[1], full[2]]);
        assert_eq!(m.predict_row(&mut g, &rows[3]).unwrap(), full[3]);
        assert_eq!(
            m.classify(&mut g, &rows[0]).unwrap(),
            crate::argmax(&full[0])
        );
        // Too many rows, too small an output.
        let five = [[0.0; 5]; 5];
        assert!(matches!(
            m.predict(&mut g, &five, &mut [[0.0; 3]; 5]),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(
            m.predict(&mut g, &rows, &mut part),
            Err(Error::LengthMismatch { .. })
        ));
    }
}

#[test]
fn typed_dense_layers_match_the_mlp() {
    // The same draws through `Dense::new` + `forward` and through `Mlp::build`.
    let spec = Mlp::new(
        5,
        [
            DenseSpec::new(7, Activation::Tanh),
            DenseSpec::new(3, Activation::Identity),
        ],
    );
    let mut g: Box<StdGraph<f64, 32, 4096>> = Box::new(StdGraph::new());
    let m: Model<2, 5, 3, 2> = spec
        .build(&mut g, Loss::MeanSquaredError, &mut SplitMix64::new(4))
        .unwrap();
    let mut h: Box<StdGraph<f64, 32, 4096>> = Box::new(StdGraph::new());
    let mut rng = SplitMix64::new(4);
    let x = h.placeholder::<2, 5>().unwrap();
    let l1 = Dense::<5, 7>::new(&mut h, Activation::Tanh, Init::XavierUniform, &mut rng).unwrap();
    let y1 = l1.forward(&mut h, x).unwrap();
    let l2 =
        Dense::<7, 3>::new(&mut h, Activation::Identity, Init::XavierUniform, &mut rng).unwrap();
    let y = l2.forward(&mut h, y1).unwrap();
    let rows = [[0.5, -1.0, 2.0, 0.0, 1.5], [1.0, 1.0, -0.5, 0.25, 0.0]];
    h.feed(x, &Matrix::new(rows)).unwrap();
    let mut out = [[0.0; 3]; 2];
    m.predict(&mut g, &rows, &mut out).unwrap();
    assert_eq!(h.eval(y).unwrap().data, out);
    assert_eq!(
        Dense::<5, 7>::capacity(2, Activation::Tanh),
        spec.layers[0].capacity(2, 5)
    );
    assert_eq!(Dense::<5, 7>::PARAMETERS, 42);
}

#[test]
fn fine_tuning_modes_train_only_what_they_say() {
    let spec = net(Activation::Relu, Activation::Sigmoid);
    let rows: [[f64; 5]; 2] = [[0.5, -1.0, 2.0, 0.0, 1.5], [1.0, 1.0, -0.5, 0.25, 0.0]];
    for mode in [
        FineTune::All,
        FineTune::LastLayer,
        FineTune::BiasesOnly,
        FineTune::Nothing,
    ] {
        let mut g: Box<StdGraph<f64, 32, 4096>> = Box::new(StdGraph::new());
        let m: Model<2, 5, 3, 3> = spec
            .build(
                &mut g,
                Loss::SparseSoftmaxCrossEntropy,
                &mut SplitMix64::new(2),
            )
            .unwrap();
        m.fine_tune(&mut g, mode).unwrap();
        let want = match mode {
            FineTune::All => spec.parameters(),
            FineTune::LastLayer => 4 * 3 + 3,
            FineTune::BiasesOnly => 7 + 4 + 3,
            FineTune::Nothing => 0,
        };
        assert_eq!(m.trainable_parameters(&g).unwrap(), want, "{mode:?}");
        let before: std::vec::Vec<std::vec::Vec<f64>> = m
            .layers
            .iter()
            .flat_map(|l| [l.weight, l.bias])
            .map(|id| g.value_slice(id).unwrap().to_vec())
            .collect();
        m.feed_labels(&mut g, &rows, &[2, 0]).unwrap();
        let mut adam: Adam<f64, 128> = Adam::new(0.1);
        // With nothing trainable the step is a forward pass that changes nothing.
        let loss = adam.minimize(&mut g, m.loss).unwrap();
        assert!(loss > 0.0);
        for (k, l) in m.layers.iter().enumerate() {
            for (j, id) in [l.weight, l.bias].into_iter().enumerate() {
                let changed = g.value_slice(id).unwrap() != before[2 * k + j].as_slice();
                let trains = match mode {
                    FineTune::All => true,
                    FineTune::LastLayer => k == 2,
                    FineTune::BiasesOnly => j == 1,
                    FineTune::Nothing => false,
                };
                assert_eq!(changed, trains, "{mode:?} layer {k} variable {j}");
            }
        }
    }
}

#[test]
fn bad_labels_and_targets_are_refused_and_nothing_is_fed() {
    let spec = net(Activation::Relu, Activation::Relu);
    let mut g: Box<StdGraph<f64, 32, 4096>> = Box::new(StdGraph::new());
    let m: Model<2, 5, 3, 3> = spec
        .build(
            &mut g,
            Loss::SparseSoftmaxCrossEntropy,
            &mut SplitMix64::new(2),
        )
        .unwrap();
    let rows = [[0.0; 5]; 2];
    assert_eq!(
        m.feed_labels(&mut g, &rows, &[0, 3]),
        Err(Error::InvalidLabel {
            row: 1,
            label: 3.0,
            classes: 3
        })
    );
    assert_eq!(g.run(m.loss.id()), Err(Error::MissingFeed(m.x.id())));
    // One-hot rows for a loss that takes labels.
    assert!(matches!(
        m.feed(&mut g, &rows, &[[0.0; 3]; 2]),
        Err(Error::LengthMismatch { .. })
    ));
    let mut nan = rows;
    nan[0][0] = f64::NAN;
    assert_eq!(
        m.feed_labels(&mut g, &nan, &[0, 1]),
        Err(Error::non_finite(Origin::Feed, m.x.id()))
    );
    assert_eq!(g.run(m.loss.id()), Err(Error::MissingFeed(m.x.id())));
}

#[test]
fn the_planned_step_trains_a_model_bit_for_bit_as_the_interpreter() {
    const NET: Mlp<3> = Mlp::new(
        4,
        [
            DenseSpec::new(8, Activation::Relu),
            DenseSpec::new(8, Activation::Tanh),
            DenseSpec::new(3, Activation::Identity),
        ],
    );
    const CAP: Capacity = NET.capacity(4, Loss::SparseSoftmaxCrossEntropy);
    let mut rng = SplitMix64::new(11);
    let rows: [[f32; 4]; 4] =
        core::array::from_fn(|_| core::array::from_fn(|_| rng.normal() as f32));
    let labels = [0, 2, 1, 2];
    let mut weights = [std::vec::Vec::new(), std::vec::Vec::new()];
    for (planned, out) in [false, true].into_iter().zip(&mut weights) {
        let mut g: Box<StdGraph<f32, { CAP.nodes }, { CAP.scalars }>> = Box::new(StdGraph::new());
        let m: Model<4, 4, 3, 3> = NET
            .build(
                &mut g,
                Loss::SparseSoftmaxCrossEntropy,
                &mut SplitMix64::new(1),
            )
            .unwrap();
        m.feed_labels(&mut g, &rows, &labels).unwrap();
        if planned {
            let s = g.plan(m.loss, PlanOptions::default()).unwrap();
            assert_eq!(s.steps, 4, "three dense layers and the loss");
            assert!(g.requirements().scalars < CAP.scalars);
        }
        let mut adam: Adam<f32, { CAP.parameters }> = Adam::new(0.01);
        for _ in 0..20 {
            adam.minimize(&mut g, m.loss).unwrap();
        }
        g.for_each_variable::<Error>(|v| {
            out.extend(v.value.iter().map(|x| x.to_bits()));
            Ok(())
        })
        .unwrap();
    }
    assert_eq!(weights[0], weights[1]);
}

#[test]
fn optimizer_state_covers_the_trainable_scalars_only() {
    // Last-layer fine-tuning with Adam sized for the last layer (4·3 + 3 = 15 scalars), in
    // the interpreter and in a planned step, bit for bit alike.
    let spec = net(Activation::Relu, Activation::Tanh);
    let rows: [[f32; 5]; 2] = [[0.5, -1.0, 2.0, 0.0, 1.5], [1.0, 1.0, -0.5, 0.25, 0.0]];
    let mut finals = std::vec::Vec::new();
    for planned in [false, true] {
        let mut g: Box<StdGraph<f32, 32, 4096>> = Box::new(StdGraph::new());
        let m: Model<2, 5, 3, 3> = spec
            .build(
                &mut g,
                Loss::SparseSoftmaxCrossEntropy,
                &mut SplitMix64::new(2),
            )
            .unwrap();
        m.fine_tune(&mut g, FineTune::LastLayer).unwrap();
        m.feed_labels(&mut g, &rows, &[2, 0]).unwrap();
        if planned {
            g.plan(m.loss, PlanOptions::default()).unwrap();
        }
        let mut adam: Adam<f32, 15> = Adam::new(0.05);
        for _ in 0..10 {
            adam.minimize(&mut g, m.loss).unwrap();
        }
        let mut w = std::vec::Vec::new();
        g.for_each_variable::<Error>(|v| {
            w.extend(v.value.iter().map(|x| x.to_bits()));
            Ok(())
        })
        .unwrap();
        finals.push(w);
        // One scalar too few is refused.
        let mut small: Adam<f32, 14> = Adam::new(0.05);
        assert_eq!(
            small.minimize(&mut g, m.loss),
            Err(Error::TooSmall {
                what: "optimizer state",
                needed: g.trainable_scalars(),
                available: 14,
            })
        );
        assert_eq!(g.trainable_scalars(), 15);
    }
    assert_eq!(finals[0], finals[1]);
}
