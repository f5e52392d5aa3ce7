use super::*;
use embedgrad_train::fnv1a;
use embedgrad_train::FNV_OFFSET;

fn bytes() -> Vec<u8> {
    WINDOWS.iter().map(|v| v.cast_unsigned()).collect()
}

#[test]
fn counts_and_ranges() {
    assert_eq!(WINDOWS.len(), 980 * 64 * 6);
    assert_eq!((LABELS.len(), SUBJECTS.len()), (980, 980));
    assert_eq!((SAMPLES, FEATURES, TRAIN + TEST), (980, 384, 980));
    assert!(LABELS.iter().all(|&l| usize::from(l) < CLASSES));
    assert!(SUBJECTS.iter().all(|&s| (1..=10).contains(&s)));
    // The smallest and largest raw value of each channel, as make.py prints them.
    let (mut lo, mut hi) = ([i8::MAX; CHANNELS], [i8::MIN; CHANNELS]);
    for (k, &v) in WINDOWS.iter().enumerate() {
        lo[k % CHANNELS] = lo[k % CHANNELS].min(v);
        hi[k % CHANNELS] = hi[k % CHANNELS].max(v);
    }
    assert_eq!(lo, [-69, -39, -77, -73, -47, -22]);
    assert_eq!(hi, [61, 79, 47, 49, 42, 23]);
    let data = dataset().unwrap();
    assert_eq!((data.len(), data.dim(), data.classes()), (980, 384, 7));
    TABLE.validate().unwrap();
}

#[test]
fn checksums() {
    // FNV-1a 64 and sums of the files, computed from watch_dataset.npy by make.py when the
    // files were made (see exercises/README.md).
    assert_eq!(fnv1a(FNV_OFFSET, &bytes()), 0x78a6_c7e9_845a_3404);
    assert_eq!(fnv1a(FNV_OFFSET, &LABELS), 0x118b_1356_1eae_a71d);
    assert_eq!(fnv1a(FNV_OFFSET, &SUBJECTS), 0x44b2_3737_921c_c14b);
    assert_eq!(WINDOWS.iter().map(|&v| i64::from(v)).sum::<i64>(), 206_649);
    assert_eq!(
        WINDOWS.iter().map(|&v| i64::from(v).abs()).sum::<i64>(),
        2_456_261
    );
}

#[test]
fn class_and_subject_counts() {
    // 10 subjects × 7 exercises × 2 arms, 7 windows each: 140 windows per exercise and 98
    // per subject; a recording's windows are consecutive rows and share label and subject.
    let (mut classes, mut subjects) = ([0usize; CLASSES], [0usize; SUBJECT_COUNT + 1]);
    for (&l, &s) in LABELS.iter().zip(&SUBJECTS) {
        classes[usize::from(l)] += 1;
        subjects[usize::from(s)] += 1;
    }
    assert_eq!(classes, [140; CLASSES]);
    assert_eq!(subjects, [0, 98, 98, 98, 98, 98, 98, 98, 98, 98, 98]);
    for r in 0..RECORDINGS {
        let rows = r * WINDOWS_PER_RECORDING..(r + 1) * WINDOWS_PER_RECORDING;
        assert!(LABELS[rows.clone()]
            .iter()
            .all(|&l| l == LABELS[rows.start]));
        assert!(SUBJECTS[rows.clone()]
            .iter()
            .all(|&s| s == SUBJECTS[rows.start]));
    }
    assert_eq!((LABELS[0], SUBJECTS[0]), (0, 7));
}

#[test]
fn first_window_is_make_py_s() {
    // The first window of the first recording as make.py prints it: 64 steps of 6 channels.
    let first: [i8; FEATURES] = [
        -17, 0, 0, 2, -7, -10, -18, 0, -1, 2, -8, -9, -18, 0, -1, 2, -9, -7, -17, 0, -1, 3, -10,
        -6, -17, 0, -1, 4, -10, -4, -17, -1, -1, 4, -10, -1, -17, -1, -1, 4, -9, 1, -17, -1, 0, 4,
        -9, 2, -17, -1, -1, 5, -8, 4, -18, -1, 0, 5, -7, 6, -19, -1, 0, 5, -5, 7, -19, -1, 0, 4,
        -4, 8, -20, 0, 1, 4, -2, 8, -21, 1, 2, 4, 0, 9, -21, 1, 2, 6, 1, 10, -22, 0, 1, 7, 3, 10,
        -22, -2, 2, 3, 4, 10, -22, -2, 1, 1, 6, 9, -22, -2, 1, 1, 7, 7, -21, -2, 1, 2, 7, 6, -21,
        -1, 1, 2, 8, 4, -20, 0, 1, 2, 8, 2, -20, 1, 0, 3, 8, 1, -20, 1, -1, 4, 9, -1, -20, 1, 0, 4,
        9, -2, -20, 1, 0, 2, 9, -3, -19, 1, 0, 1, 9, -4, -18, 1, 0, -1, 8, -5, -18, 0, 1, -1, 7,
        -5, -17, 1, 1, -1, 6, -6, -17, 1, 1, 0, 4, -7, -17, 0, 1, 1, 2, -8, -17, 0, 1, 0, 0, -9,
        -17, 0, 1, 0, -2, -9, -17, 1, 0, 0, -3, -10, -17, 1, 0, -1, -5, -9, -17, 1, 0, -1, -6, -9,
        -18, 2, -1, 0, -8, -8, -18, 2, -1, 0, -9, -7, -18, 2, -1, 2, -10, -6, -18, 2, -1, 5, -10,
        -4, -18, 2, 0, 5, -10, -1, -18, 2, 0, 6, -9, 1, -18, 2, 0, 6, -9, 3, -19, 2, 0, 5, -8, 5,
        -19, 2, 0, 4, -7, 6, -20, 3, 0, 4, -5, 8, -20, 3, 0, 4, -4, 9, -21, 3, 0, 6, -2, 10, -22,
        3, 0, 9, 0, 11, -23, 1, 0, 9, 2, 11, -23, -1, 0, 7, 5, 11, -23, -2, 1, 2, 7, 9, -21, -1, 1,
        0, 8, 8, -20, 0, 1, 1, 9, 6, -20, 1, 0, 4, 9, 3, -19, 1, 0, 7, 8, 0, -19, 2, 1, 6, 8, -3,
        -19, 2, 1, 4, 8, -5, -19, 2, 1, 1, 7, -6, -19, 3, 1, -1, 7, -6, -19, 3, 0, -2, 7, -7, -18,
        3, 0, -2, 6, -7, -18, 3, -1, -1, 5, -7,
    ];
    assert_eq!(WINDOWS[..FEATURES], first);
    let mut row = [0.0f64; FEATURES];
    TABLE.row_into(0, &mut row).unwrap();
    assert!(row
        .iter()
        .zip(first)
        .all(|(&v, raw)| v == f64::from(raw) / 16.0));
}

#[test]
fn dequantisation_is_within_half_a_step_of_the_source() {
    // The first 16 samples (50 Hz) of the first recording in watch_dataset.npy, as make.py
    // prints them: their pairwise means are the first 8 steps of the first window.
    let source: [[f64; CHANNELS]; 16] = [
        [
            -1.083608, -0.018609, -0.027260, 0.411410, -1.603097, -2.488642,
        ],
        [
            -1.077527, -0.021503, -0.018727, 0.456227, -1.778859, -2.354247,
        ],
        [
            -1.085861, -0.018032, -0.051983, 0.568556, -1.988414, -2.263150,
        ],
        [
            -1.106387, -0.011322, -0.085696, 0.646172, -2.114873, -2.095032,
        ],
        [
            -1.104165, -0.012864, -0.071194, 0.630629, -2.223096, -1.917508,
        ],
        [
            -1.092977, -0.016018, -0.035467, 0.583107, -2.303302, -1.713543,
        ],
        [
            -1.081994, -0.012436, -0.042544, 0.626437, -2.432355, -1.517716,
        ],
        [
            -1.080604, -0.006760, -0.061582, 0.712193, -2.476703, -1.271302,
        ],
        [
            -1.073034, 0.005305, -0.079342, 0.893368, -2.498965, -1.028324,
        ],
        [
            -1.066986, -0.006731, -0.078495, 1.037566, -2.473643, -0.744471,
        ],
        [
            -1.055704, -0.027306, -0.058169, 1.048303, -2.449945, -0.457259,
        ],
        [
            -1.052551, -0.042225, -0.037123, 1.003984, -2.438177, -0.195564,
        ],
        [
            -1.054849, -0.049910, -0.034895, 0.971879, -2.410843, 0.021522,
        ],
        [
            -1.059058, -0.045799, -0.043437, 0.983593, -2.325954, 0.234971,
        ],
        [
            -1.056231, -0.044830, -0.036234, 0.975654, -2.227793, 0.459240,
        ],
        [
            -1.058195, -0.046748, -0.023359, 0.989919, -2.161344, 0.652225,
        ],
    ];
    for t in 0..8 {
        for c in 0..CHANNELS {
            let x = (source[2 * t][c] + source[2 * t + 1][c]) / 2.0;
            let step = 1.0 / f64::from(RAW_PER_UNIT[c]);
            let v = f64::from(dequantise(0, t, c).unwrap());
            assert!(
                (v - x).abs() <= step / 2.0 + 1e-9,
                "t {t} c {c}: {v} vs {x}"
            );
        }
    }
    // make.py asserts that nothing is clipped and prints the largest error over all the
    // data: half a step, 1/32 g and 1/8 gyroscope unit.
    assert_eq!(dequantise(0, 0, 0), Some(-17.0 / 16.0));
    assert!(dequantise(SAMPLES - 1, TIMESTEPS - 1, CHANNELS - 1).is_some());
    assert_eq!(dequantise(SAMPLES, 0, 0), None);
    assert_eq!(dequantise(0, TIMESTEPS, 0), None);
    assert_eq!(dequantise(0, 0, CHANNELS), None);
    assert_eq!(dequantise(usize::MAX, 0, 0), None);
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
    // The same split as baseline.py's own SplitMix64 and Fisher–Yates: its first held-out
    // rows and the held-out class counts it prints.
    assert_eq!(
        a[TRAIN..TRAIN + 8],
        [389, 160, 472, 411, 687, 387, 476, 855]
    );
    let mut classes = [0; CLASSES];
    for &i in &a[TRAIN..] {
        classes[usize::from(LABELS[usize::from(i)])] += 1;
    }
    assert_eq!(classes, [22, 25, 29, 36, 32, 25, 27]);
}

/// int8 after training: the CNN within one point of f32 on the held-out windows, and the
/// same model through a safetensors file.
#[test]
#[cfg_attr(miri, ignore)]
fn the_int8_cnn_is_within_a_point_of_f32() {
    use super::models::{CNN_NODES, CNN_PARAMETERS};
    use super::{quantized, Model, Part, Trainer, BATCH, CNN};
    use embedgrad_ops::prelude::*;
    use embedgrad_train::quant::QuantNet;
    use embedgrad_train::safetensors::SafeTensors;
    const S: usize = Model::Cnn.planned_scalars();
    let mut g: Box<StdGraph<f32, CNN_NODES, S>> = Box::new(StdGraph::new());
    let mut t: Box<Trainer<f32, BATCH, CNN_PARAMETERS>> =
        Box::new(Trainer::new(&mut g, &CNN).unwrap());
    t.plan(&mut g).unwrap();
    for _ in 0..CNN.epochs {
        t.epoch(&mut g, |f| f()).unwrap();
    }
    let f32_acc = t.evaluate(&mut g, Part::Test).unwrap().accuracy();
    let mut storage = Box::new(quantized::Storage::new());
    let q = quantized::quantize(&g, t.net(), t.rows(Part::Train), &mut storage).unwrap();
    let (correct, total) = quantized::evaluate(&q, t.rows(Part::Test)).unwrap();
    let int8_acc = correct as f64 / total as f64;
    println!("exercises CNN held-out: f32 {f32_acc:.4}, int8 {int8_acc:.4} ({correct}/{total})");
    assert_eq!(total, 196);
    assert!(
        (f32_acc - int8_acc).abs() <= 0.01,
        "f32 {f32_acc}, int8 {int8_acc}"
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
    let st: SafeTensors<'_, 32> = SafeTensors::parse(&bytes[..file.len()]).unwrap();
    let back = QuantNet::<{ quantized::STAGES }>::from_safetensors(
        &st,
        quantized::KINDS,
        quantized::INDEX,
    )
    .unwrap();
    assert_eq!(back, q);
    assert_eq!(
        quantized::evaluate(&back, t.rows(Part::Test)).unwrap(),
        (correct, total)
    );
}
