use super::*;

fn limits(param_after: usize, max_routes: usize) -> GroupingLimits {
    GroupingLimits {
        param_after,
        max_routes,
    }
}

#[test]
fn learned_ids() {
    let mut g = RouteGrouper::default();
    assert_eq!(g.group("GET", "/auth/users/17"), "GET /auth/users/{id}");
    assert_eq!(g.group("get", "/auth/users/42?x=1"), "GET /auth/users/{id}");
    assert_eq!(
        g.group("GET", "/auth/users/search?q=x"),
        "GET /auth/users/search"
    );
    assert_eq!(
        g.group("DELETE", "/s/0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8e/x"),
        "DELETE /s/{id}/x"
    );
    assert_eq!(g.group("GET", "/blob/deadbeef01"), "GET /blob/{id}");
    assert_eq!(
        g.group("GET", "/t/aGVsbG8gd29ybGQ_12345-xyz"),
        "GET /t/{id}"
    );
    assert_eq!(g.group("GET", "/t/configuration"), "GET /t/configuration");
    assert_eq!(g.group("GET", "/"), "GET /");
    assert_eq!(g.group("GET", "?a=1"), "GET /");
}

#[test]
fn known_templates_win() {
    let mut g = RouteGrouper::new([
        ("*", "/auth/users/{user}"),
        ("GET", "/auth/users/search"),
        ("POST", "/auth/users/{id}/avatar"),
    ]);
    assert_eq!(
        g.group("GET", "/auth/users/alice"),
        "GET /auth/users/{user}"
    );
    assert_eq!(
        g.group("GET", "/auth/users/search"),
        "GET /auth/users/search"
    );
    assert_eq!(
        g.group("PUT", "/auth/users/search"),
        "PUT /auth/users/{user}"
    );
    assert_eq!(
        g.group("POST", "/auth/users/7/avatar"),
        "POST /auth/users/{id}/avatar"
    );
    assert_eq!(
        g.group("GET", "/auth/users/7/avatar"),
        "GET /auth/users/{id}/avatar"
    );
}

#[test]
fn templates_win_over_learning_and_shapes() {
    let mut g =
        RouteGrouper::new([("*", "/users/{user_id}/posts/{post_id}")]).with_limits(limits(2, 100));
    for name in ["alice", "bob", "carol", "dave"] {
        assert_eq!(
            g.group("GET", &format!("/users/{name}/posts/hello-{name}")),
            "GET /users/{user_id}/posts/{post_id}"
        );
    }
    // Explicit templates even beat `{id}` shapes.
    assert_eq!(
        g.group("GET", "/users/17/posts/42"),
        "GET /users/{user_id}/posts/{post_id}"
    );
    // Not matching the template (one segment fewer): learned as usual.
    assert_eq!(g.group("GET", "/users/alice"), "GET /users/alice");
}

#[test]
fn learned_param_per_position() {
    let mut g = RouteGrouper::default().with_limits(limits(3, 100));
    for v in ["a", "b", "c"] {
        assert_eq!(g.group("GET", &format!("/m/{v}")), format!("GET /m/{v}"));
    }
    // The fourth distinct literal at `GET /m/_` is a parameter, whatever its shape.
    assert_eq!(g.group("GET", "/m/d"), "GET /m/{param}");
    assert_eq!(g.group("GET", "/m/zz-top"), "GET /m/{param}");
    // The literals kept stay literals (deterministic: same value, same route).
    assert_eq!(g.group("GET", "/m/b"), "GET /m/b");
    // Positions are per method and per template prefix: these are untouched.
    assert_eq!(g.group("POST", "/m/d"), "POST /m/d");
    assert_eq!(g.group("GET", "/n/d"), "GET /n/d");
    // A deeper position under the learned parameter learns on its own.
    for (i, v) in ["x", "y", "z"].iter().enumerate() {
        assert_eq!(
            g.group("GET", &format!("/m/q{i}/{v}")),
            format!("GET /m/{{param}}/{v}")
        );
    }
    assert_eq!(g.group("GET", "/m/q9/w"), "GET /m/{param}/{param}");
    // `{id}` segments do not count as literals.
    for i in 0..10 {
        assert_eq!(g.group("GET", &format!("/k/{i}")), "GET /k/{id}");
    }
    assert_eq!(g.group("GET", "/k/list"), "GET /k/list");
}

#[test]
fn grouping_is_deterministic() {
    let paths: Vec<String> = (0..200)
        .map(|i| format!("/p/v{}/x/w{}", i % 37, i % 11))
        .collect();
    let run = || {
        let mut g = RouteGrouper::default().with_limits(limits(5, 20));
        paths.iter().map(|p| g.group("GET", p)).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn overlong_segments_methods_and_depth_are_bounded() {
    let mut g = RouteGrouper::default();
    let long = "a".repeat(MAX_LITERAL_BYTES + 1);
    assert_eq!(g.group("GET", &format!("/x/{long}")), "GET /x/{param}");
    let deep: String = (0..100).map(|i| format!("/s{i}")).collect();
    let name = g.group("GET", &deep);
    assert!(name.ends_with("/s31/{tail}"), "{name}");
    assert_eq!(name.matches('/').count(), MAX_SEGMENTS + 1);
    let method = "X".repeat(100);
    assert_eq!(g.group(&method, "/a"), "{method} /a");
}

#[test]
fn route_cap_folds_into_the_overflow_route() {
    let mut g = RouteGrouper::default().with_limits(limits(1000, 10));
    for i in 0..10 {
        assert_eq!(g.group("GET", &format!("/r{i}")), format!("GET /r{i}"));
    }
    assert_eq!(g.group("GET", "/r10"), OVERFLOW_ROUTE);
    assert_eq!(g.group("PUT", "/r0"), OVERFLOW_ROUTE);
    // Routes already given out keep their name.
    assert_eq!(g.group("GET", "/r3"), "GET /r3");
    let s = g.stats();
    assert_eq!((s.routes, s.folded), (10, 2));
}

/// 100,000 distinct values of every shape, flat and nested: the state stays within its
/// configured bounds and the routes collapse to `{param}`.
#[test]
fn tracking_state_is_bounded_under_100k_distinct_values() {
    let mut g = RouteGrouper::default();
    let mut names = HashSet::new();
    for i in 0..100_000u64 {
        // A cheap deterministic scramble: letters only, so nothing looks like an id.
        let word = |n: u64| -> String {
            let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (n >> 7);
            (0..10)
                .map(|_| {
                    let c = b'a' + (x % 26) as u8;
                    x /= 26;
                    c as char
                })
                .collect()
        };
        let uri = match i % 3 {
            0 => format!("/m/{}", word(i)),
            1 => format!("/m/{}/{}", word(i), word(i + 1)),
            _ => format!("/{}/{}/{}", word(i), word(i * 3), word(i * 7)),
        };
        names.insert(g.group("GET", &uri));
    }
    let s = g.stats();
    assert!(s.positions <= MAX_POSITIONS, "{s:?}");
    assert!(s.literals <= MAX_POSITIONS * DEFAULT_PARAM_AFTER, "{s:?}");
    assert!(s.routes <= DEFAULT_MAX_ROUTES, "{s:?}");
    assert!(names.len() <= DEFAULT_MAX_ROUTES + 1, "{}", names.len());
    assert!(names.contains("GET /m/{param}"), "{names:?}");
    assert!(names.contains("GET /m/{param}/{param}"), "{names:?}");
}

#[test]
fn template_syntax() {
    assert_eq!(
        parse_template("/users/{user_id}/posts/{post_id}"),
        Ok(("*".into(), "/users/{user_id}/posts/{post_id}".into()))
    );
    assert_eq!(
        parse_template("get /users/{id}"),
        Ok(("GET".into(), "/users/{id}".into()))
    );
    for bad in [
        "users/{id}",
        "/users/{}",
        "/users/x{id}",
        "/users/{id",
        "/a?b=1",
        "G3T /a",
    ] {
        assert!(parse_template(bad).is_err(), "{bad}");
    }
}

#[test]
fn pathological_request_paths_are_bounded() {
    let mut g = RouteGrouper::default();
    // Very long: a megabyte of path in one segment and in many.
    let huge = format!("/files/{}", "a".repeat(1 << 20));
    let name = g.group("GET", &huge);
    assert_eq!(name, "GET /files/{param}");
    let many: String = (0..50_000).map(|i| format!("/{i}x")).collect();
    assert!(g.group("GET", &many).len() < 2048);
    // Percent-encoded, including bytes that are not UTF-8 once decoded, and raw controls.
    for path in [
        "/users/%FF%FE%00",
        "/users/%E2%82%AC",
        "/users/%",
        "/users/%zz",
        "/a\u{0}b/\u{7f}",
        "/é/ü/中文",
    ] {
        let name = g.group("GET", path);
        assert!(name.starts_with("GET /"), "{path} → {name}");
        assert!(name.len() < 256, "{path} → {name}");
    }
}
