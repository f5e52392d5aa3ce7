use embedgrad_ops::prelude::*;
use embedgrad_train::seed::{self, Example};
fn main() {
    for ex in Example::ALL {
        let n = ex.points();
        let mut xs = vec![0.0f32; 2 * n];
        let mut cs = vec![0.0f32; 2 * n];
        let mut labels = vec![0u8; n];
        let mut rng = seed::fill(ex, &mut xs, &mut cs, &mut labels).unwrap();
        let mut g: Box<StdGraph<f32, 64, 65536>> = Box::new(StdGraph::new());
        let t = std::time::Instant::now();
        let out = match ex {
            Example::SpiralDeep => seed::train::<_, _, 64, 65536, 200>(
                ex,
                &mut g,
                &mut rng,
                &xs,
                &cs,
                &labels,
                |s, l| {
                    if s % 500 == 0 || s == ex.steps() {
                        println!("{} {s} {l}", ex.name())
                    }
                },
            ),
            _ => seed::train::<_, _, 64, 65536, 100>(
                ex,
                &mut g,
                &mut rng,
                &xs,
                &cs,
                &labels,
                |s, l| {
                    if s % 100 == 0 || (200..=230).contains(&s) || s == ex.steps() {
                        println!("{} {s} {l}", ex.name())
                    }
                },
            ),
        }
        .unwrap();
        println!(
            "{:?} {:?} acc {} in {:?}",
            ex,
            out,
            out.accuracy(),
            t.elapsed()
        );
    }
}
