//! End-to-end smoke test: the real binary with the `redis` crate.

mod common;

#[test]
fn set_get_with_redis_crate() {
    let node = common::start_ferrocache(&[]);
    let mut c = node.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
}
