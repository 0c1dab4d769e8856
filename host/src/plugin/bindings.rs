//! The generated bindings of the `teamster:plugin` world, kept private: the rest of the host
//! sees only the plain Rust types of this module's parent.

mod gen_ {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "service-kind",
        // `log` traps when a plugin exceeds its log budget, so host functions may fail.
        imports: { default: trappable },
    });
}

pub(crate) use gen_::teamster::plugin::host::{self as wit_host, Level};
pub(crate) use gen_::teamster::plugin::types;
pub(crate) use gen_::{ServiceKind, ServiceKindPre};
