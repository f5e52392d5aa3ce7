use super::*;
use embedgrad_train::fnv1a;
use embedgrad_train::FNV_OFFSET;

#[test]
fn counts_and_ranges() {
    assert_eq!(PIXELS.len(), 1797 * 64);
    assert_eq!(LABELS.len(), 1797);
    assert!(PIXELS.iter().all(|&p| p <= MAX_PIXEL));
    assert!(PIXELS.contains(&0) && PIXELS.contains(&16));
    assert!(LABELS.iter().all(|&l| l < 10));
    let data = dataset().unwrap();
    assert_eq!((data.len(), data.dim(), data.classes()), (1797, 64, 10));
}

#[test]
fn checksums() {
    // FNV-1a 64 and sums of the files, computed from digits.csv.gz with an independent script
    // when the files were made (see digits/README.md).
    assert_eq!(fnv1a(FNV_OFFSET, &PIXELS), 0x493f_a2f6_7df5_50a1);
    assert_eq!(fnv1a(FNV_OFFSET, &LABELS), 0x5c66_ed87_5b0a_9785);
    assert_eq!(PIXELS.iter().map(|&p| u64::from(p)).sum::<u64>(), 561_718);
}

#[test]
fn class_counts_match_the_uci_description() {
    // The UCI page of the data set lists the class distribution of its test set (the part
    // scikit-learn ships): 178, 182, 177, 183, 181, 182, 181, 179, 174, 180.
    let mut counts = [0usize; 10];
    for &l in &LABELS {
        counts[usize::from(l)] += 1;
    }
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
}

#[test]
fn first_image_is_the_first_csv_line() {
    // The first line of digits.csv.gz: 64 grey levels, then the label 0.
    let first: [u8; 64] = [
        0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0,
        0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0,
        0, 6, 13, 10, 0, 0, 0,
    ];
    assert_eq!(PIXELS[..64], first);
    assert_eq!(LABELS[0], 0);
    let mut row = [0.0f64; 64];
    TABLE.row_into(0, &mut row).unwrap();
    assert!(row
        .iter()
        .zip(first)
        .all(|(&v, p)| v == f64::from(p) / 16.0));
}

#[test]
fn split_is_fixed_and_disjoint() {
    let mut a = [0u16; SAMPLES];
    let mut b = [0u16; SAMPLES];
    let (train, test) = split(&mut a).unwrap();
    assert_eq!((train.len(), test.len()), (TRAIN, TEST));
    let mut seen = [false; SAMPLES];
    for &i in train.iter().chain(test.iter()) {
        assert!(!seen[usize::from(i)], "row {i} twice");
        seen[usize::from(i)] = true;
    }
    assert!(seen.iter().all(|&s| s));
    split(&mut b).unwrap();
    assert_eq!(a, b);
    // Every class is in the held-out part (a shuffled split, not a slice of the file).
    let mut classes = [0; 10];
    for &i in &a[TRAIN..] {
        classes[usize::from(LABELS[usize::from(i)])] += 1;
    }
    assert!(classes.iter().all(|&c| c > 20), "{classes:?}");
}

#[test]
fn capacity_is_exact() {
    fn check<const B: usize, const S: usize>() {
        let mut g: Box<StdGraph<f32, NODES, S>> = Box::new(StdGraph::new());
        build::<f32, _, NODES, S, B>(&mut g, &mut SplitMix64::new(1)).unwrap();
        let r = g.requirements();
        assert_eq!((r.nodes, r.scalars), capacity(B), "B = {B}");
        assert_eq!(g.variable_scalars(), PARAMETERS);
    }
    check::<1, { 297 + 4822 }>();
    check::<16, { 297 * 16 + 4822 }>();
    check::<32, { 297 * 32 + 4822 }>();
    // One scalar less builds (building checks the fixed values only) but cannot run, and the
    // error gives the whole graph's need.
    let mut g: Box<StdGraph<f32, NODES, { 297 * 16 + 4821 }>> = Box::new(StdGraph::new());
    build::<f32, _, NODES, { 297 * 16 + 4821 }, 16>(&mut g, &mut SplitMix64::new(1)).unwrap();
    assert_eq!(
        g.ensure_layout(),
        Err(Error::ScalarCapacity {
            needed: 297 * 16 + 4822,
            capacity: 297 * 16 + 4821,
            partial: false
        })
    );
}

#[test]
fn batches_cover_the_training_rows() {
    assert_eq!(Trainer::<f32, 16>::batches(), 90); // 89 full batches and one of 13 rows
    assert_eq!(Trainer::<f32, 1437>::batches(), 1);
    assert_eq!(Trainer::<f32, 1>::batches(), 1437);
    assert_eq!(RECIPE_STEPS, 20 * 90);
}

#[test]
fn a_bad_batch_number_changes_nothing() {
    const B: usize = 16;
    let mut g: Box<StdGraph<f64, NODES, { 297 * B + 4822 }>> = Box::new(StdGraph::new());
    let mut t: Trainer<f64, B> = Trainer::new(&mut g, &RECIPE).unwrap();
    let before = g.value(t.net().w1).unwrap();
    assert_eq!(t.step(&mut g, 90), Err(Error::InvalidArgument));
    assert_eq!(t.step(&mut g, usize::MAX), Err(Error::InvalidArgument));
    assert_eq!(g.value(t.net().w1).unwrap(), before);
    assert_eq!(t.steps(), 0);
    // The last, short batch is a valid step.
    assert!(t.step(&mut g, 89).unwrap() > 0.0);
    assert_eq!(t.steps(), 1);
}

#[test]
fn evaluation_matches_a_hand_written_forward_pass() {
    // Two epochs in f64, then every held-out image classified by plain loops over the
    // trained weights: the same count as `Trainer::evaluate`, and the same summed loss.
    const B: usize = 16;
    let mut g: Box<StdGraph<f64, NODES, { 297 * B + 4822 }>> = Box::new(StdGraph::new());
    let mut t: Trainer<f64, B> = Trainer::new(&mut g, &RECIPE).unwrap();
    for _ in 0..2 {
        t.epoch(&mut g, |f| f()).unwrap();
    }
    let net = *t.net();
    let w1 = g.value(net.w1).unwrap();
    let b1 = g.value(net.b1).unwrap();
    let w2 = g.value(net.w2).unwrap();
    let b2 = g.value(net.b2).unwrap();
    let (mut correct, mut loss) = (0, 0.0);
    for &i in t.rows(Part::Test) {
        let i = usize::from(i);
        let x: Vec<f64> = PIXELS[i * 64..(i + 1) * 64]
            .iter()
            .map(|&p| f64::from(p) / 16.0)
            .collect();
        let h: Vec<f64> = (0..HIDDEN)
            .map(|j| (b1.data[0][j] + (0..64).map(|k| x[k] * w1.data[k][j]).sum::<f64>()).max(0.0))
            .collect();
        let z: Vec<f64> = (0..CLASSES)
            .map(|c| b2.data[0][c] + (0..HIDDEN).map(|j| h[j] * w2.data[j][c]).sum::<f64>())
            .collect();
        let label = usize::from(LABELS[i]);
        let best = (0..CLASSES)
            .max_by(|&a, &b| z[a].partial_cmp(&z[b]).unwrap())
            .unwrap();
        correct += usize::from(best == label);
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        loss += m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - z[label];
    }
    let ev = t.evaluate(&mut g, Part::Test).unwrap();
    assert_eq!((ev.correct, ev.total), (correct, TEST));
    assert!(
        (ev.loss - loss).abs() < 1e-9 * loss,
        "{} vs {loss}",
        ev.loss
    );
    assert!(ev.accuracy() > 0.9);
}

/// The fine-tuning demo on the host: a model pre-trained with the recipe, written as
/// safetensors and loaded back, adapts to each distorted writer; the whole net adapts best,
/// the biases least, and the original writer loses nothing.
#[test]
#[cfg_attr(miri, ignore)]
fn fine_tuning_wins_back_an_unseen_writer() {
    use embedgrad_ops::prelude::*;
    use embedgrad_train::layers::FineTune;
    use embedgrad_train::safetensors::Dtype;
    const B: usize = BATCH;
    let mut g: Box<StdGraph<f32, NODES, { 297 * B + 4822 }>> = Box::new(StdGraph::new());
    let mut t: Box<Trainer<f32, B>> = Box::new(Trainer::new(&mut g, &RECIPE).unwrap());
    for _ in 0..RECIPE.epochs {
        t.epoch(&mut g, |f| f()).unwrap();
    }
    let mut file = vec![0u8; 12_000];
    let mut at = 0;
    let n = t
        .net()
        .save_weights(&g, Dtype::F32, |b| {
            file[at..at + b.len()].copy_from_slice(b);
            at += b.len();
            true
        })
        .unwrap();
    assert_eq!(n, 8 + 304 + 4 * PARAMETERS); // a 299-byte header padded to 304
    let original = t.evaluate(&mut g, Part::Test).unwrap().accuracy();
    let mut tune = |w: Writer, mode: FineTune| {
        t.net().load_weights(&mut g, &file[..n]).unwrap();
        t.net().fine_tune(&mut g, FineTune::All).unwrap();
        t.set_writer(w);
        let before = t.evaluate(&mut g, Part::Test).unwrap().accuracy();
        t.net().fine_tune(&mut g, mode).unwrap();
        t.restart(&FINE_TUNE).unwrap();
        for _ in 0..FINE_TUNE.epochs {
            t.epoch(&mut g, |f| f()).unwrap();
        }
        (before, t.evaluate(&mut g, Part::Test).unwrap().accuracy())
    };
    let (b, a) = tune(Writer::Original, FineTune::All);
    assert_eq!(b, original);
    assert!(a >= original - 0.02, "{original} → {a}");
    let (before, last) = tune(Writer::Unseen, FineTune::LastLayer);
    let (_, all) = tune(Writer::Unseen, FineTune::All);
    let (_, biases) = tune(Writer::Unseen, FineTune::BiasesOnly);
    assert!(
        before < 0.5,
        "the unseen writer is hard for the pre-trained model: {before}"
    );
    assert!(
        biases > before + 0.2 && last > biases && all > last && all > 0.85,
        "{before} → last {last}, all {all}, biases {biases}"
    );
}

/// int8 after training: within one point of the f32 network on the held-out images, and the
/// same model through a safetensors file.
#[test]
#[cfg_attr(miri, ignore)]
fn the_int8_network_is_within_a_point_of_f32() {
    use embedgrad_ops::prelude::*;
    use embedgrad_train::quant::QuantMlp;
    use embedgrad_train::safetensors::SafeTensors;
    const B: usize = BATCH;
    let mut g: Box<StdGraph<f32, NODES, { 297 * B + 4822 }>> = Box::new(StdGraph::new());
    let mut t: Box<Trainer<f32, B>> = Box::new(Trainer::new(&mut g, &RECIPE).unwrap());
    for _ in 0..RECIPE.epochs {
        t.epoch(&mut g, |f| f()).unwrap();
    }
    let f32_acc = t.evaluate(&mut g, Part::Test).unwrap().accuracy();
    let mut storage = Box::new(quantized::Storage::new());
    let q = quantized::quantize(&g, t.net(), t.rows(Part::Train), &mut storage).unwrap();
    let (correct, total) = quantized::evaluate(&q, t.rows(Part::Test)).unwrap();
    let int8_acc = correct as f64 / total as f64;
    println!("digits held-out: f32 {f32_acc:.4}, int8 {int8_acc:.4} ({correct}/{total})");
    assert!(
        (f32_acc - int8_acc).abs() <= 0.01,
        "f32 {f32_acc}, int8 {int8_acc}"
    );
    let mut file = Vec::new();
    q.write([0, 2], |b| {
        file.extend_from_slice(b);
        true
    })
    .unwrap();
    let mut aligned = vec![0u64; file.len().div_ceil(8)];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut aligned);
    bytes[..file.len()].copy_from_slice(&file);
    let st: SafeTensors<'_, 16> = SafeTensors::parse(&bytes[..file.len()]).unwrap();
    let back = QuantMlp::<2>::from_safetensors(&st, [0, 2]).unwrap();
    assert_eq!(back, q);
    assert_eq!(
        quantized::evaluate(&back, t.rows(Part::Test)).unwrap(),
        (correct, total)
    );
    // The same network reading the pixel bytes as they are (what the firmware runs), and
    // through a file.
    let mut storage = Box::new(quantized::Storage::new());
    let q = quantized::quantize_pixels(&g, t.net(), t.rows(Part::Train), &mut storage).unwrap();
    let (correct, total) = quantized::evaluate_pixels(&q, t.rows(Part::Test)).unwrap();
    let pixels_acc = correct as f64 / total as f64;
    println!("digits held-out, int8 from the pixel bytes: {pixels_acc:.4} ({correct}/{total})");
    assert!(
        (f32_acc - pixels_acc).abs() <= 0.01,
        "f32 {f32_acc}, int8 {pixels_acc}"
    );
    let mut file = Vec::new();
    q.write(quantized::INDEX, |b| {
        file.extend_from_slice(b);
        true
    })
    .unwrap();
    let mut aligned = vec![0u64; file.len().div_ceil(8)];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut aligned);
    bytes[..file.len()].copy_from_slice(&file);
    let st: SafeTensors<'_, 16> = SafeTensors::parse(&bytes[..file.len()]).unwrap();
    let back = embedgrad_train::quant::QuantNet::<2>::from_safetensors(
        &st,
        quantized::KINDS,
        quantized::INDEX,
    )
    .unwrap();
    assert_eq!(back, q);
}
