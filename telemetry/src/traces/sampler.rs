//! Which traces are kept, as the OpenTelemetry specification's `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG` say: `always_on`, `always_off`, `traceidratio` and their
//! `parentbased_` forms (default `parentbased_always_on`: an upstream decision, from Istio or
//! Kong, is kept). The ratio is taken on the trace id as the SDKs take it (its last eight bytes,
//! shifted right once, below ratio × 2⁶³), so services sampling at one ratio keep the same
//! traces.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Root {
    On,
    Off,
    /// Kept below this bound.
    Ratio(u64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sampler {
    root: Root,
    parent_based: bool,
}

impl Default for Sampler {
    fn default() -> Sampler {
        Sampler {
            root: Root::On,
            parent_based: true,
        }
    }
}

impl Sampler {
    /// The sampler the variables name, or the default and why it was not what they say.
    pub fn parse(name: Option<&str>, arg: Option<&str>) -> (Sampler, Option<String>) {
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
            return (Sampler::default(), None);
        };
        let ratio = || match arg.map(str::trim) {
            None | Some("") => Ok(Root::Ratio(u64::MAX)),
            Some(v) => match v.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(if r >= 1.0 {
                    Root::On
                } else {
                    Root::Ratio((r * (1u64 << 63) as f64) as u64)
                }),
                _ => Err(format!(
                    "OTEL_TRACES_SAMPLER_ARG `{v}` is not a ratio from 0 to 1"
                )),
            },
        };
        let (parent_based, root) = match name.to_ascii_lowercase().as_str() {
            "always_on" => (false, Ok(Root::On)),
            "always_off" => (false, Ok(Root::Off)),
            "traceidratio" => (false, ratio()),
            "parentbased_always_on" => (true, Ok(Root::On)),
            "parentbased_always_off" => (true, Ok(Root::Off)),
            "parentbased_traceidratio" => (true, ratio()),
            other => (
                true,
                Err(format!(
                    "OTEL_TRACES_SAMPLER `{other}` is not one of always_on, always_off, \
                     traceidratio and their parentbased_ forms"
                )),
            ),
        };
        match root {
            Ok(root) => (Sampler { root, parent_based }, None),
            Err(why) => (
                Sampler::default(),
                Some(format!("{why}: sampling parentbased_always_on")),
            ),
        }
    }

    pub fn from_env() -> (Sampler, Option<String>) {
        let var = |name| std::env::var(name).ok();
        Sampler::parse(
            var("OTEL_TRACES_SAMPLER").as_deref(),
            var("OTEL_TRACES_SAMPLER_ARG").as_deref(),
        )
    }

    /// The decision for a trace that starts here.
    pub fn root(&self, trace: u128) -> bool {
        match self.root {
            Root::On => true,
            Root::Off => false,
            Root::Ratio(bound) => ((trace as u64) >> 1) < bound,
        }
    }

    /// The decision for a span under a parent that was (or was not) sampled.
    pub fn under(&self, parent_sampled: bool, trace: u128) -> bool {
        if self.parent_based {
            parent_sampled
        } else {
            self.root(trace)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_as_the_specification_names_them() {
        let (s, why) = Sampler::parse(None, None);
        assert_eq!((s, why), (Sampler::default(), None));
        let (s, _) = Sampler::parse(Some("always_off"), None);
        assert!(!s.root(1) && s.under(true, 1) == s.root(1));
        let (s, _) = Sampler::parse(Some("parentbased_always_off"), None);
        assert!(!s.root(7) && s.under(true, 7) && !s.under(false, 7));
        let (s, _) = Sampler::parse(Some("traceidratio"), Some("0.5"));
        let kept = (0..10_000u128)
            .filter(|i| s.root(u128::from(crate::traces::ids::span_id()) ^ i))
            .count();
        assert!((4_000..6_000).contains(&kept), "{kept}");
        let (s, why) = Sampler::parse(Some("sometimes"), None);
        assert_eq!(s, Sampler::default());
        assert!(why.is_some_and(|w| w.contains("sometimes")));
        let (_, why) = Sampler::parse(Some("traceidratio"), Some("2"));
        assert!(why.is_some_and(|w| w.contains("`2`")));
    }
}
