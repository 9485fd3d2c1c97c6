//! The only two C math functions pyk calls (sqlite and bytesize take logarithms; indicatif,
//! tokio and the server's metrics raise to powers), defined here from the `libm` crate, so
//! the linker needs no `libm.so` and the loader maps one shared library fewer at every start:
//! ~0.06 ms of each warm `pyk foo` (README, "Warm runs"). `tests/cli_local.rs` checks that
//! pyk needs no other library than libc (and, where zig links it for glibc 2.17, the two
//! that glibc split off then).

/// The natural logarithm, as C's `log`.
#[no_mangle]
pub extern "C" fn log(x: f64) -> f64 {
    libm::log(x)
}

/// `x` to the power `y`, as C's `pow`.
#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    #[test]
    fn as_c_computes_them() {
        assert_eq!(super::log(1.0), 0.0);
        assert!((super::log(std::f64::consts::E) - 1.0).abs() < 1e-15);
        assert_eq!(super::pow(2.0, 10.0), 1024.0);
        assert!((super::pow(1024.0, 0.1) - 2.0).abs() < 1e-15);
    }
}
