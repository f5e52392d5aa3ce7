//! The graphs' declared capacities are exactly what `Graph::requirements` reports.

use embedgrad_data::seed::Example;
use embedgrad_host_sim::run;

#[test]
fn declared_capacities_are_exact() {
    for ex in Example::ALL {
        let want = run::capacities(ex);
        for req in [
            run::measure_requirements::<f32>(ex).unwrap(),
            run::measure_requirements::<f64>(ex).unwrap(),
        ] {
            assert_eq!(
                (req.nodes, req.scalars),
                want,
                "{}: the graph changed; update the constants in host-sim/src/run.rs",
                ex.name()
            );
        }
    }
}

#[test]
fn a_trained_graph_occupies_exactly_its_capacity() {
    let r = run::train::<f32>(Example::Perceptron, None, |_, _| {}).unwrap();
    assert_eq!(
        (r.requirements.nodes, r.requirements.scalars),
        run::capacities(Example::Perceptron)
    );
    // f32: 4 bytes a scalar, plus the node table.
    assert!(r.requirements.bytes > 4 * run::PERCEPTRON_SCALARS);
}
