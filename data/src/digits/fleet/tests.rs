use super::*;
use crate::digits;
use embedgrad_ops::prelude::*;

const B: usize = digits::BATCH;
type G = StdGraph<f32, { digits::NODES }, { digits::capacity(B).1 }>;

fn shard_of(c: usize, n: usize) -> ([u16; TRAIN], usize) {
    let mut rows = [0u16; TRAIN];
    let len = shard(c, n, &mut rows).unwrap();
    (rows, len)
}

#[test]
fn ten_clients_see_three_digits_each() {
    let want: [&[usize]; 10] = [
        &[0, 1, 3],
        &[1, 2, 4],
        &[2, 3, 5],
        &[3, 4, 6],
        &[4, 5, 7],
        &[5, 6, 8],
        &[6, 7, 9],
        &[0, 7, 8],
        &[1, 8, 9],
        &[0, 2, 9],
    ];
    for (c, classes) in want.iter().enumerate() {
        let got: Vec<usize> = (0..10).filter(|&k| owns(c, 10, k)).collect();
        assert_eq!(&got, classes, "client {c}");
        let (rows, len) = shard_of(c, 10);
        for &r in &rows[..len] {
            assert!(
                classes.contains(&usize::from(LABELS[usize::from(r)])),
                "client {c} row {r}"
            );
        }
    }
}

#[test]
fn the_shards_partition_the_training_rows_for_any_fleet() {
    let mut idx = [0u16; SAMPLES];
    let (train, test) = digits::split(&mut idx).unwrap();
    let mut train: Vec<u16> = train.to_vec();
    train.sort_unstable();
    for n in 1..=13 {
        let mut all = Vec::new();
        for c in 0..n {
            let (rows, len) = shard_of(c, n);
            assert!(len > 0, "{n} clients: client {c} has no rows");
            all.extend_from_slice(&rows[..len]);
        }
        all.sort_unstable();
        assert_eq!(all, train, "{n} clients");
        assert!(test.iter().all(|r| all.binary_search(r).is_err()));
    }
}

#[test]
fn bad_fleets_are_refused() {
    let mut rows = [0u16; TRAIN];
    assert_eq!(shard(0, 0, &mut rows), Err(Error::InvalidArgument));
    assert_eq!(shard(10, 10, &mut rows), Err(Error::InvalidArgument));
    assert!(!owns(10, 10, 0) && !owns(0, 10, 10));
    let mut g = Box::new(G::new());
    let mut c: Box<Client<f32, B>> = Box::new(Client::empty());
    assert_eq!(c.init(&mut g, 3, 2), Err(Error::InvalidArgument));
}

#[test]
fn a_round_is_reproducible_and_resumable_epoch_by_epoch() {
    let run = |split_epochs: bool| {
        let mut g = Box::new(G::new());
        let mut c: Box<Client<f32, B>> = Box::new(Client::empty());
        c.init(&mut g, 4, 10).unwrap();
        if split_epochs {
            // As a device that was cut after epoch 0: a fresh client, the weights and the
            // optimizer state of that moment, then epoch 1.
            c.begin_round(&LOCAL);
            c.epoch(&mut g, 2, 0, &LOCAL).unwrap();
            let w: Vec<Vec<f32>> = c
                .net()
                .params()
                .iter()
                .map(|p| g.value_slice(p.node).unwrap().to_vec())
                .collect();
            let opt = *c.optimizer();
            let mut g2 = Box::new(G::new());
            let mut c2: Box<Client<f32, B>> = Box::new(Client::empty());
            c2.init(&mut g2, 4, 10).unwrap();
            for (p, w) in c2.net().params().iter().zip(&w) {
                g2.assign_slice(p.node, w).unwrap();
            }
            *c2.optimizer_mut() = opt;
            for e in 1..LOCAL.epochs {
                c2.epoch(&mut g2, 2, e, &LOCAL).unwrap();
            }
            weights(&g2, &c2)
        } else {
            c.fit(&mut g, 2, &LOCAL).unwrap();
            weights(&g, &c)
        }
    };
    let whole = run(false);
    assert_eq!(whole, run(false));
    assert_eq!(whole, run(true));
}

fn weights(g: &G, c: &Client<f32, B>) -> Vec<f32> {
    c.net()
        .params()
        .iter()
        .flat_map(|p| g.value_slice(p.node).unwrap().to_vec())
        .collect()
}

/// Federated averaging of the ten shards, weighted by rows, as Flower's FedAvg does: a few
/// rounds already lift the global model far above what any one client (three digits) could
/// reach alone (at most 30%); twenty reach the fleet's goal of 95%.
#[test]
fn federated_averaging_learns_every_digit() {
    let rounds = if cfg!(debug_assertions) { 2 } else { 20 };
    let mut gs: Vec<Box<G>> = (0..CLIENTS).map(|_| Box::new(G::new())).collect();
    let mut cs: Vec<Box<Client<f32, B>>> =
        (0..CLIENTS).map(|_| Box::new(Client::empty())).collect();
    for (k, (g, c)) in gs.iter_mut().zip(cs.iter_mut()).enumerate() {
        c.init(g, k, CLIENTS).unwrap();
    }
    let mut global = weights(&gs[0], &cs[0]);
    let mut acc = 0.0;
    for round in 0..rounds {
        let mut sum = vec![0f64; global.len()];
        let mut total = 0usize;
        for (g, c) in gs.iter_mut().zip(cs.iter_mut()) {
            set(g, c, &global);
            let s = c.fit(g, round, &LOCAL).unwrap();
            for (a, w) in sum.iter_mut().zip(weights(g, c)) {
                *a += f64::from(w) * s.rows as f64;
            }
            total += s.rows;
        }
        global = sum.iter().map(|a| (a / total as f64) as f32).collect();
        set(&mut gs[0], &cs[0], &global);
        acc = cs[0].evaluate(&mut gs[0]).unwrap().accuracy();
        eprintln!("round {round}: held-out accuracy {acc:.4}");
    }
    assert!(
        acc > if cfg!(debug_assertions) { 0.7 } else { 0.95 },
        "{acc}"
    );
}

fn set(g: &mut G, c: &Client<f32, B>, w: &[f32]) {
    let mut at = 0;
    for p in c.net().params() {
        let n = g.value_slice(p.node).unwrap().len();
        g.assign_slice(p.node, &w[at..at + n]).unwrap();
        at += n;
    }
}
