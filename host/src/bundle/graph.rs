//! Orders derived from `needs`, for starting and stopping a bundle.
//!
//! The orchestrator starts a service as soon as everything it needs is ready, and stops in
//! the reverse order so that nothing loses a dependency while it is still running. These
//! helpers give a deterministic order (declaration order among services that could go in
//! either order), which keeps logs and tests stable from run to run.

use super::spec::{BundleSpec, ServiceSpec};

/// The first cycle of a directed graph whose edges are given per node (`edges[n]`: the
/// nodes `n` points at, in order), found by a depth-first search from each node in turn,
/// and named from its smallest node, so that the answer does not depend on where the
/// search entered the cycle. Both `needs` between services and `${self.…}` references
/// between `connection` keys are checked with it.
pub(crate) fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Visit {
        Unvisited,
        OnPath,
        Done,
    }
    let mut state = vec![Visit::Unvisited; edges.len()];
    for root in 0..edges.len() {
        if state[root] != Visit::Unvisited {
            continue;
        }
        // Each frame is a node and the position of the next edge to follow.
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = Visit::OnPath;
        while let Some(frame) = stack.last_mut() {
            let (node, next) = *frame;
            let Some(&target) = edges[node].get(next) else {
                state[node] = Visit::Done;
                stack.pop();
                continue;
            };
            frame.1 += 1;
            match state[target] {
                Visit::Unvisited => {
                    state[target] = Visit::OnPath;
                    stack.push((target, 0));
                }
                Visit::Done => {}
                Visit::OnPath => {
                    let start = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[start..].iter().map(|(n, _)| *n).collect();
                    let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                    cycle.rotate_left(first);
                    return Some(cycle);
                }
            }
        }
    }
    None
}

impl BundleSpec {
    /// Every service after all the services it needs, otherwise in declaration order.
    ///
    /// A validated spec is a DAG, so every service appears exactly once. Should a spec edited
    /// by hand contain a cycle, its services are appended in declaration order rather than
    /// dropped, and `needs` naming no service are ignored.
    pub fn topo_order(&self) -> Vec<&ServiceSpec> {
        let mut placed = vec![false; self.services.len()];
        let mut order = Vec::with_capacity(self.services.len());
        let is_placed = |placed: &[bool], name: &str| {
            self.services
                .iter()
                .zip(placed)
                .all(|(service, placed)| service.name != name || *placed)
        };
        // Each pass places the first service whose needs are all placed; quadratic, but
        // bundles have a handful of services and the order must be exactly reproducible.
        while let Some(next) = self
            .services
            .iter()
            .enumerate()
            .find(|(i, s)| !placed[*i] && s.needs.iter().all(|n| is_placed(&placed, n)))
            .map(|(i, _)| i)
        {
            placed[next] = true;
            order.push(&self.services[next]);
        }
        order.extend(
            self.services
                .iter()
                .zip(&placed)
                .filter(|(_, p)| !**p)
                .map(|(s, _)| s),
        );
        order
    }

    /// The order in which to stop services: the reverse of [`BundleSpec::topo_order`], so
    /// every service stops before the services it needs.
    pub fn shutdown_order(&self) -> Vec<&ServiceSpec> {
        let mut order = self.topo_order();
        order.reverse();
        order
    }

    /// The services that list `name` in their `needs`, in declaration order.
    pub fn dependents(&self, name: &str) -> Vec<&ServiceSpec> {
        self.services
            .iter()
            .filter(|s| s.needs.iter().any(|n| n == name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::bundle::spec::{BundleSpec, ServiceSpec};

    fn bundle(services: &[(&str, &[&str])]) -> BundleSpec {
        let mut builder = BundleSpec::builder("/project");
        for (name, needs) in services {
            let mut service = ServiceSpec::builder(*name).command(["true"]);
            for need in *needs {
                service = service.needs(*need);
            }
            builder = builder.service(service);
        }
        builder.build().expect("valid bundle")
    }

    fn names(services: Vec<&ServiceSpec>) -> Vec<&str> {
        services.into_iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn needs_come_first_and_ties_keep_declaration_order() {
        let spec = bundle(&[
            ("web", &["api", "cache"]),
            ("api", &["db"]),
            ("cache", &[]),
            ("db", &[]),
            ("cron", &[]),
        ]);
        assert_eq!(
            names(spec.topo_order()),
            ["cache", "db", "api", "web", "cron"]
        );
        assert_eq!(
            names(spec.shutdown_order()),
            ["cron", "web", "api", "db", "cache"]
        );
        assert_eq!(names(spec.dependents("db")), ["api"]);
        assert_eq!(names(spec.dependents("web")), Vec::<&str>::new());
    }

    #[test]
    fn a_hand_made_cycle_is_appended_not_lost() {
        let mut spec = bundle(&[("a", &[]), ("b", &[]), ("c", &[])]);
        spec.services[0].needs.push("b".into());
        spec.services[1].needs.push("a".into());
        spec.services[2].needs.push("nowhere".into());
        assert_eq!(names(spec.topo_order()), ["c", "a", "b"]);
    }

    #[test]
    fn a_cycle_is_named_from_its_smallest_node_wherever_the_search_enters() {
        assert_eq!(super::find_cycle(&[vec![1], vec![2], vec![]]), None);
        assert_eq!(
            super::find_cycle(&[vec![], vec![2], vec![3], vec![1]]),
            Some(vec![1, 2, 3])
        );
        assert_eq!(
            super::find_cycle(&[vec![2], vec![0], vec![1]]),
            Some(vec![0, 2, 1])
        );
        assert_eq!(super::find_cycle(&[vec![0]]), Some(vec![0]));
    }
}
