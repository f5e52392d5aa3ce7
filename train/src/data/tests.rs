use super::*;
use crate::{Adam, GradientDescent};
use embedgrad_core::Matrix;
use embedgrad_ops::prelude::*;

#[test]
fn tables_decode_every_storage() {
    let u = [0u8, 16, 8, 255];
    let t = Table::u8(&u, 2, 0.0625, -0.5);
    assert_eq!((t.rows(), t.dim()), (2, 2));
    let mut r = [0.0f32; 2];
    t.row_into(0, &mut r).unwrap();
    assert_eq!(r, [-0.5, 0.5]);
    t.row_into(1, &mut r).unwrap();
    assert_eq!(r, [0.0, 15.4375]);

    let s = [-128i8, -1, 0, 127];
    let t = Table::i8(&s, 4, 0.5, 1.0);
    let mut r = [0.0f64; 4];
    t.row_into(0, &mut r).unwrap();
    assert_eq!(r, [-63.0, 0.5, 1.0, 64.5]);

    let f = [1.5f32, -2.0, 0.1];
    let t = Table::f32(&f, 1);
    let mut r = [0.0f64; 1];
    t.row_into(2, &mut r).unwrap();
    assert_eq!(r, [f64::from(0.1f32)]);

    let d = [0.1f64, 0.2];
    let t = Table::f64(&d, 2);
    let mut r = [0.0f32; 2];
    t.row_into(0, &mut r).unwrap();
    assert_eq!(r, [0.1f32, 0.2f32]);

    // Errors, and nothing read out of range.
    assert_eq!(t.row_into(1, &mut r), Err(Error::InvalidArgument));
    assert_eq!(
        t.row_into(0, &mut [0.0f32; 3]),
        Err(Error::LengthMismatch {
            expected: 2,
            found: 3
        })
    );
    assert_eq!(Table::f64(&d, 0).validate(), Err(Error::InvalidArgument));
    assert_eq!(Table::f64(&d, 0).rows(), 0);
    assert_eq!(
        Table::f32(&f, 2).validate(),
        Err(Error::LengthMismatch {
            expected: 2,
            found: 3
        })
    );
    assert!(matches!(
        Table::u8(&u, 2, f32::NAN, 0.0).validate(),
        Err(Error::InvalidParameter { name: "scale", value, .. }) if value.is_nan()
    ));
    assert_eq!(
        Table::i8(&[0i8; 4], 2, 1.0, f32::INFINITY).validate(),
        Err(Error::InvalidParameter {
            name: "offset",
            value: f64::INFINITY,
            expected: "finite"
        })
    );
}

/// NaN and infinite features are refused by the constructor, with their row and column, not
/// later at feed time without them.
#[test]
fn datasets_refuse_non_finite_features_with_their_place() {
    let f = [0.0f32, 1.0, 2.0, 3.0, f32::NEG_INFINITY, 5.0];
    assert_eq!(
        Dataset::new(Table::f32(&f, 2), &[0, 1, 0], 2),
        Err(Error::NonFiniteFeature {
            row: 2,
            col: 0,
            value: f64::NEG_INFINITY
        })
    );
    let d = [0.0f64, 1.0, 2.0, f64::NAN];
    let err = Dataset::new(Table::f64(&d, 2), &[0, 1], 2).unwrap_err();
    assert!(matches!(err, Error::NonFiniteFeature { row: 1, col: 1, value } if value.is_nan()));
    assert_eq!(err.to_string(), "feature 1 of row 1 is NaN: must be finite");
    // Finite in f64, infinite in an f32 graph: refused when the batch is written, with the row.
    let big = [0.0f64, 1.0, 1e300, 3.0];
    let data = Dataset::new(Table::f64(&big, 2), &[0, 1], 2).unwrap();
    let (mut xb, mut yb) = ([0.0f32; 4], [0.0f32; 2]);
    assert_eq!(
        data.fill_range(0, &mut xb, &mut yb, Targets::Labels),
        Err(Error::NonFiniteFeature {
            row: 1,
            col: 0,
            value: f64::INFINITY
        })
    );
    let (mut xb, mut yb) = ([0.0f64; 4], [0.0f64; 2]);
    assert_eq!(data.fill_range(0, &mut xb, &mut yb, Targets::Labels), Ok(2));
}

#[test]
fn datasets_check_their_labels() {
    let x = [0u8; 6];
    let t = Table::u8(&x, 2, 1.0, 0.0);
    assert!(Dataset::new(t, &[0, 1, 2], 3).is_ok());
    assert_eq!(
        Dataset::new(t, &[0, 1], 3),
        Err(Error::LengthMismatch {
            expected: 3,
            found: 2
        })
    );
    assert_eq!(
        Dataset::new(t, &[0, 1, 3], 3),
        Err(Error::InvalidLabel {
            row: 2,
            label: 3.0,
            classes: 3
        })
    );
    // The first bad row is reported.
    assert_eq!(
        Dataset::new(t, &[9, 3, 0], 3),
        Err(Error::InvalidLabel {
            row: 0,
            label: 9.0,
            classes: 3
        })
    );
    for classes in [0, 257] {
        assert_eq!(
            Dataset::new(t, &[0, 0, 0], classes),
            Err(Error::InvalidParameter {
                name: "classes",
                value: classes as f64,
                expected: "in 1..=256"
            })
        );
    }
    let d = Dataset::new(t, &[2, 1, 0], 3).unwrap();
    assert_eq!(
        (d.len(), d.dim(), d.classes(), d.label(0), d.label(3)),
        (3, 2, 3, Some(2), None)
    );
}

/// Five rows `[i, 10 + i]` with labels `i mod 3`.
fn five() -> ([f32; 10], [u8; 5]) {
    let mut x = [0.0f32; 10];
    let mut l = [0u8; 5];
    for i in 0..5 {
        x[2 * i] = i as f32;
        x[2 * i + 1] = 10.0 + i as f32;
        l[i] = (i % 3) as u8;
    }
    (x, l)
}

#[test]
fn batches_with_one_hot_labels_and_padding() {
    let (x, l) = five();
    let d = Dataset::new(Table::f32(&x, 2), &l, 3).unwrap();
    let (mut xb, mut yb) = ([9.0f64; 6], [9.0f64; 9]);
    assert_eq!(
        d.fill_batch(&[4u16, 0, 2], &mut xb, &mut yb, Targets::OneHot),
        Ok(3)
    );
    assert_eq!(xb, [4.0, 14.0, 0.0, 10.0, 2.0, 12.0]);
    assert_eq!(yb, [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    // A short batch: the rest is padding.
    assert_eq!(
        d.fill_batch(&[3usize], &mut xb, &mut yb, Targets::OneHot),
        Ok(1)
    );
    assert_eq!(xb, [3.0, 13.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(yb, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let mut lb = [9.0f64; 3];
    assert_eq!(
        d.fill_batch(&[1u8, 2], &mut xb, &mut lb, Targets::Labels),
        Ok(2)
    );
    assert_eq!(lb, [1.0, 2.0, 3.0]); // 3 = K: an ignored label

    // Errors are reported before anything is written.
    let (mut xb, mut yb) = ([7.0f64; 6], [7.0f64; 3]);
    assert_eq!(
        d.fill_batch(&[0u16, 5], &mut xb, &mut yb, Targets::Labels),
        Err(Error::InvalidArgument)
    );
    assert_eq!((xb, yb), ([7.0; 6], [7.0; 3]));
    assert_eq!(
        d.fill_batch(&[0u16, 1, 2, 3], &mut xb, &mut yb, Targets::Labels),
        Err(Error::LengthMismatch {
            expected: 3,
            found: 4
        })
    );
    assert!(d
        .fill_batch(&[0u16], &mut xb, &mut yb, Targets::OneHot)
        .is_err());
    assert!(d
        .fill_batch(&[0u16], &mut [0.0f64; 5], &mut yb, Targets::Labels)
        .is_err());
    assert!(d
        .fill_batch::<f64, u16>(&[0], &mut [], &mut [], Targets::Labels)
        .is_err());
}

#[test]
fn shuffle_is_a_uniform_permutation() {
    // All 6 orders of 3 items, each about 1/6 of 6,000 shuffles (σ ≈ 29 per count).
    let mut rng = SplitMix64::new(11);
    let mut counts = std::collections::HashMap::new();
    for _ in 0..6000 {
        let mut v = [0u8, 1, 2];
        shuffle(&mut rng, &mut v);
        *counts.entry(v).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 6);
    for (order, n) in counts {
        assert!((850..1150).contains(&n), "{order:?}: {n}");
    }
    // Deterministic, and a permutation for any length.
    let mut a = [0usize; 100];
    let mut b = [0usize; 100];
    iota(&mut a).unwrap();
    iota(&mut b).unwrap();
    shuffle(&mut SplitMix64::new(5), &mut a);
    shuffle(&mut SplitMix64::new(5), &mut b);
    assert_eq!(a, b);
    let mut s = a;
    s.sort();
    assert!(s.iter().enumerate().all(|(i, &v)| i == v));
    assert_ne!(a, s);
    shuffle::<u8>(&mut SplitMix64::new(5), &mut []);
}

#[test]
fn iota_refuses_indices_that_do_not_fit() {
    let mut small = [0u8; 257];
    assert_eq!(iota(&mut small), Err(Error::InvalidArgument));
    let mut ok = [0u8; 256];
    iota(&mut ok).unwrap();
    assert_eq!(ok[255], 255);
}

#[test]
fn split_is_deterministic_and_disjoint() {
    let x = [0u8; 40];
    let l = [0u8; 20];
    let d = Dataset::new(Table::u8(&x, 2, 1.0, 0.0), &l, 1).unwrap();
    let mut i1 = [0u16; 20];
    let mut i2 = [0u16; 20];
    let (tr, te) = d.split(&mut SplitMix64::new(3), &mut i1, 5).unwrap();
    assert_eq!((tr.len(), te.len()), (15, 5));
    let (tr2, te2) = d.split(&mut SplitMix64::new(3), &mut i2, 5).unwrap();
    assert_eq!((&*tr, &*te), (&*tr2, &*te2));
    let mut all: Vec<u16> = tr.iter().chain(te.iter()).copied().collect();
    all.sort();
    assert_eq!(all, (0..20).collect::<Vec<u16>>());
    let mut i3 = [0u16; 20];
    let (_, te3) = d.split(&mut SplitMix64::new(4), &mut i3, 5).unwrap();
    assert_ne!(&*te, &*te3);
    assert!(d
        .split(&mut SplitMix64::new(3), &mut [0u16; 19], 5)
        .is_err());
    assert_eq!(
        d.split(&mut SplitMix64::new(3), &mut [0u16; 20], 21)
            .map(|_| ()),
        Err(Error::InvalidArgument)
    );
}

#[test]
fn evaluate_counts_argmax_hits_by_hand() {
    // Scores are the features themselves: rows (1,0), (0,1), (2,3), (5,4) with labels
    // 0, 1, 0, 0 → argmax 0, 1, 1, 0 → 3 of 4 right. Loss Σ lse(x) − x_label:
    // ln(1+e) − 1, ln(1+e) − 1, (3 + ln(1+e⁻¹)) − 2, (5 + ln(1+e⁻¹)) − 5.
    let x = [1.0f32, 0.0, 0.0, 1.0, 2.0, 3.0, 5.0, 4.0];
    let l = [0u8, 1, 0, 0];
    let d = Dataset::new(Table::f32(&x, 2), &l, 2).unwrap();
    let e = std::f64::consts::E;
    let want = 2.0 * ((1.0 + e).ln() - 1.0) + 1.0 + 2.0 * (1.0 + 1.0 / e).ln();
    for b in [1usize, 3, 4] {
        // B = 3 pads the second batch with two ignored rows.
        let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
        let (xp, yp, loss) = match b {
            1 => {
                let xp = g.placeholder::<1, 2>().unwrap();
                let yp = g.placeholder::<1, 1>().unwrap();
                (
                    xp.id(),
                    yp.id(),
                    g.sparse_softmax_cross_entropy(xp, yp).unwrap().id(),
                )
            }
            3 => {
                let xp = g.placeholder::<3, 2>().unwrap();
                let yp = g.placeholder::<3, 1>().unwrap();
                (
                    xp.id(),
                    yp.id(),
                    g.sparse_softmax_cross_entropy(xp, yp).unwrap().id(),
                )
            }
            _ => {
                let xp = g.placeholder::<4, 2>().unwrap();
                let yp = g.placeholder::<4, 1>().unwrap();
                (
                    xp.id(),
                    yp.id(),
                    g.sparse_softmax_cross_entropy(xp, yp).unwrap().id(),
                )
            }
        };
        let feeds = Feeds { x: xp, y: yp, loss };
        let (mut xb, mut yb) = (vec![0.0; 2 * b], vec![0.0; b]);
        let ev = d
            .evaluate(
                &mut g,
                feeds,
                Targets::Labels,
                xp,
                &[0u8, 1, 2, 3],
                &mut xb,
                &mut yb,
            )
            .unwrap();
        assert_eq!(
            (ev.correct, ev.total, ev.accuracy()),
            (3, 4, 0.75),
            "B = {b}"
        );
        assert!(
            (ev.loss - want).abs() < 1e-14,
            "B = {b}: {} vs {want}",
            ev.loss
        );
        // Scores of the wrong shape.
        assert!(matches!(
            d.evaluate(
                &mut g,
                feeds,
                Targets::Labels,
                loss,
                &[0u8],
                &mut xb,
                &mut yb
            ),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}

#[test]
fn one_hot_and_label_epochs_take_the_same_steps() {
    // The fused one-hot and label losses give the same gradients, so an epoch with either
    // (the last batch padded) ends at the same weights.
    let (x, l) = five();
    let d = Dataset::new(Table::f32(&x, 2), &l, 3).unwrap();
    let w0 = Matrix::new([[0.1, -0.2, 0.3], [-0.05, 0.02, 0.01]]);
    let run = |targets: Targets| {
        let mut g: StdGraph<f64, 8, 128> = StdGraph::new();
        let xp = g.placeholder::<2, 2>().unwrap();
        let w = g.variable(&w0).unwrap();
        let logits = g.matmul(xp, w).unwrap();
        let (yp, loss) = match targets {
            Targets::OneHot => {
                let yp = g.placeholder::<2, 3>().unwrap();
                (yp.id(), g.softmax_cross_entropy(logits, yp).unwrap())
            }
            Targets::Labels => {
                let yp = g.placeholder::<2, 1>().unwrap();
                (yp.id(), g.sparse_softmax_cross_entropy(logits, yp).unwrap())
            }
        };
        let feeds = Feeds {
            x: xp.id(),
            y: yp,
            loss: loss.id(),
        };
        let w_t = targets.width(3);
        let (mut xb, mut yb) = ([0.0; 4], vec![0.0; 2 * w_t]);
        let mut opt = GradientDescent::new(0.01);
        let total = d
            .train_epoch(
                &mut opt,
                &mut g,
                feeds,
                targets,
                &[4u16, 1, 3, 0, 2],
                &mut xb,
                &mut yb,
            )
            .unwrap();
        (total, g.value(w).unwrap())
    };
    let (l1, w1) = run(Targets::OneHot);
    let (l2, w2) = run(Targets::Labels);
    assert!((l1 - l2).abs() < 1e-12);
    for (a, b) in w1.as_slice().iter().zip(w2.as_slice()) {
        assert!((a - b).abs() < 1e-14);
    }
    assert_ne!(w1, w0);
}

#[test]
fn epoch_equals_the_hand_written_loop() {
    let (x, l) = five();
    let d = Dataset::new(Table::f32(&x, 2), &l, 3).unwrap();
    let build = || {
        let mut g: StdGraph<f32, 8, 128> = StdGraph::new();
        let xp = g.placeholder::<2, 2>().unwrap();
        let yp = g.placeholder::<2, 1>().unwrap();
        let w = g
            .variable(&Matrix::new([[0.1f32, -0.2, 0.3], [-0.05, 0.02, 0.01]]))
            .unwrap();
        let logits = g.matmul(xp, w).unwrap();
        let loss = g.sparse_softmax_cross_entropy(logits, yp).unwrap();
        (
            g,
            Feeds {
                x: xp.id(),
                y: yp.id(),
                loss: loss.id(),
            },
            w,
            loss,
        )
    };
    let order = [2u16, 4, 0, 1, 3];
    let (mut g1, f1, w1, _) = build();
    let mut opt1: Adam<f32, 6> = Adam::new(0.05);
    let (mut xb, mut yb) = ([0.0f32; 4], [0.0f32; 2]);
    let total = d
        .train_epoch(
            &mut opt1,
            &mut g1,
            f1,
            Targets::Labels,
            &order,
            &mut xb,
            &mut yb,
        )
        .unwrap();

    let (mut g2, f2, w2, loss2) = build();
    let mut opt2: Adam<f32, 6> = Adam::new(0.05);
    let mut sum = 0.0f32;
    for chunk in order.chunks(2) {
        let mut xs = [0.0f32; 4];
        let mut ys = [3.0f32; 2]; // padding label K = 3
        for (r, &i) in chunk.iter().enumerate() {
            xs[2 * r..2 * r + 2].copy_from_slice(&x[2 * i as usize..2 * i as usize + 2]);
            ys[r] = l[i as usize] as f32;
        }
        g2.feed_slice(f2.x, &xs).unwrap();
        g2.feed_slice(f2.y, &ys).unwrap();
        sum += minimize(&mut opt2, &mut g2, loss2).unwrap();
    }
    assert_eq!(total, sum);
    assert_eq!(g1.value(w1).unwrap(), g2.value(w2).unwrap());
    assert_eq!(opt1.update_count(), 3);
}

#[test]
fn consecutive_ranges() {
    let (x, l) = five();
    let d = Dataset::new(Table::f32(&x, 2), &l, 3).unwrap();
    let (mut xb, mut yb) = ([0.0f32; 4], [0.0f32; 6]);
    assert_eq!(d.fill_range(1, &mut xb, &mut yb, Targets::OneHot), Ok(2));
    assert_eq!(xb, [1.0, 11.0, 2.0, 12.0]);
    assert_eq!(yb, [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(d.fill_range(4, &mut xb, &mut yb, Targets::OneHot), Ok(1));
    assert_eq!(xb, [4.0, 14.0, 0.0, 0.0]);
    assert_eq!(yb, [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(
        d.fill_range(5, &mut xb, &mut yb, Targets::OneHot),
        Err(Error::InvalidArgument)
    );
    // The same rows as by indices.
    let (mut xi, mut yi) = ([0.0f32; 4], [0.0f32; 6]);
    d.fill_batch(&[4u8], &mut xi, &mut yi, Targets::OneHot)
        .unwrap();
    assert_eq!((xi, yi), (xb, yb));
}
