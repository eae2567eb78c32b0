//! Route templates (`/v1/policies/{id}`), matched segment by segment. Metrics and span names use
//! the template, never the raw path, so their cardinality is the API's size, not its traffic.

/// The service's routes, each with the methods it allows.
#[derive(Debug, Default, Clone)]
pub struct RouteTemplates(Vec<Route>);

#[derive(Debug, Clone)]
struct Route {
    template: String,
    segments: Vec<String>,
    methods: Vec<String>,
}

impl RouteTemplates {
    /// `routes`: (template, methods) pairs, e.g. from an OpenAPI document's `paths`.
    pub fn new(routes: impl IntoIterator<Item = (String, Vec<String>)>) -> RouteTemplates {
        RouteTemplates(
            routes
                .into_iter()
                .map(|(template, methods)| Route {
                    segments: segments(&template),
                    template,
                    methods,
                })
                .collect(),
        )
    }

    /// The template and allowed methods of the route `path` belongs to.
    pub fn find(&self, path: &str) -> Option<(&str, &[String])> {
        // Borrowed: on every request's path, one allocation, not one per segment.
        let asked: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        // The most literal match wins: `/policies/active` over `/policies/{id}`.
        self.0
            .iter()
            .filter(|r| {
                r.segments.len() == asked.len()
                    && r.segments
                        .iter()
                        .zip(&asked)
                        .all(|(t, a)| t.starts_with('{') || t.as_str() == *a)
            })
            .max_by_key(|r| r.segments.iter().filter(|s| !s.starts_with('{')).count())
            .map(|r| (r.template.as_str(), r.methods.as_slice()))
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_segment_by_segment() {
        let routes = RouteTemplates::new([
            ("/v1/policies/{id}".to_owned(), vec!["GET".to_owned()]),
            ("/v1/policies/active".to_owned(), vec!["GET".to_owned()]),
        ]);
        assert_eq!(
            routes.find("/v1/policies/abc").map(|r| r.0),
            Some("/v1/policies/{id}")
        );
        assert_eq!(
            routes.find("/v1/policies/active").map(|r| r.0),
            Some("/v1/policies/active")
        );
        assert_eq!(routes.find("/v1/policies/abc/x"), None);
    }
}
