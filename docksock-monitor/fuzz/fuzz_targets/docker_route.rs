//! Feeds arbitrary method and target text to the endpoint router and
//! checks that it never panics and that its answer is consistent.

#![no_main]

use docksock_monitor::dockerapi::route;
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "CONNECT", "get",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, target)) = data.split_first() else {
        return;
    };
    let target = String::from_utf8_lossy(target);
    let method = METHODS[usize::from(pick) % METHODS.len()];

    let view = route(method, &target);
    if view.known {
        assert!(view.endpoint.starts_with('/'), "{view:?}");
    } else {
        assert!(view.object.is_none(), "{view:?}");
    }
    if let Some(version) = &view.version {
        assert!(!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    }
    assert_eq!(route(method, &target), view, "routing is not deterministic");
});
