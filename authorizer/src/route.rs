//! Route keys (`GET /projects/{projectId}`) and the concrete paths they match.

use std::collections::BTreeMap;

/// A route key's method and path, or why it is not one.
pub fn split(route: &str) -> Result<(&str, &str), String> {
    let (method, path) = route
        .split_once(' ')
        .ok_or_else(|| format!("{route:?} is not a route: write it as `METHOD /path`"))?;
    let known = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
    ];
    if !known.contains(&method) {
        return Err(format!(
            "{route:?}: {method:?} is not a method API Gateway routes (one of {})",
            known.join(", ")
        ));
    }
    if !path.starts_with('/') || path.contains(' ') || path.contains("//") {
        return Err(format!(
            "{route:?}: the path must start with `/`, with no spaces or empty segments"
        ));
    }
    Ok((method, path))
}

/// The path's parameter names, in order (`{name}` and a last `{name+}`).
pub fn parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_end_matches('+'))
        .collect()
}

/// The parameters `path` (a concrete one, `/projects/alpha`) gives the route template
/// `template` (`/projects/{projectId}`), or `None` when it does not match.
pub fn matches(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(found),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                    let rest: Vec<&str> = std::iter::once(g).chain(got).collect();
                    found.insert(name.to_owned(), rest.join("/"));
                    return (!rest.join("").is_empty()).then_some(found);
                }
                match w.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !g.is_empty() => {
                        found.insert(name.to_owned(), g.to_owned());
                    }
                    None if w == g => {}
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
}

/// The route of `routes` that `method path` takes, and its parameters: an exact method before
/// `ANY`, and a route without a greedy parameter before one with it, as API Gateway picks.
pub fn pick<'a, R>(
    routes: &'a [R],
    key: impl Fn(&R) -> &str,
    method: &str,
    path: &str,
) -> Option<(&'a R, BTreeMap<String, String>)> {
    let mut best: Option<(u8, &R, BTreeMap<String, String>)> = None;
    for route in routes {
        let Ok((m, template)) = split(key(route)) else {
            continue;
        };
        if m != method && m != "ANY" {
            continue;
        }
        let Some(params) = matches(template, path) else {
            continue;
        };
        let rank = u8::from(m == "ANY") + 2 * u8::from(template.contains("+}"));
        if best.as_ref().is_none_or(|(b, _, _)| rank < *b) {
            best = Some((rank, route, params));
        }
    }
    best.map(|(_, r, p)| (r, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_gives_the_templates_parameters() {
        let got = matches("/projects/{projectId}", "/projects/alpha").unwrap();
        assert_eq!(got["projectId"], "alpha");
        assert!(matches("/projects/{projectId}", "/projects/").is_none());
        assert!(matches("/projects/{projectId}", "/projects/a/b").is_none());
        assert!(matches("/projects", "/projects/a").is_none());
        let got = matches("/files/{path+}", "/files/a/b/c").unwrap();
        assert_eq!(got["path"], "a/b/c");
    }

    #[test]
    fn route_keys_are_checked_and_picked_as_api_gateway_does() {
        assert!(split("GET /projects/{id}").is_ok());
        assert!(split("get /x").unwrap_err().contains("not a method"));
        assert!(split("GET projects").unwrap_err().contains("start with"));
        assert!(split("GET").is_err());
        assert_eq!(parameters("/a/{b}/c/{d+}"), ["b", "d"]);
        let routes = ["ANY /projects/{id}", "GET /projects/{id}", "GET /{proxy+}"];
        let (r, _) = pick(&routes, |r| r, "GET", "/projects/alpha").unwrap();
        assert_eq!(*r, "GET /projects/{id}");
        let (r, _) = pick(&routes, |r| r, "DELETE", "/projects/alpha").unwrap();
        assert_eq!(*r, "ANY /projects/{id}");
        let (r, p) = pick(&routes, |r| r, "GET", "/other/x").unwrap();
        assert_eq!((*r, p["proxy"].as_str()), ("GET /{proxy+}", "other/x"));
        assert!(pick(&routes, |r| r, "POST", "/other").is_none());
    }
}
