//! A component that targets `teamster:plugin@0.2.0`, the version before the one this host
//! speaks, with 0.2.0's `ready-check` (a `bool`). The host speaks one version only, so it
//! must refuse it with a message naming both versions.

wit_bindgen::generate!({
    inline: "
        package teamster:plugin@0.2.0;

        interface kind {
            enum %stream { stdout, stderr }
            ready-check: func(%stream: %stream, line: string) -> bool;
        }

        world service-kind {
            export kind;
        }
    ",
});

struct Old;

impl exports::teamster::plugin::kind::Guest for Old {
    fn ready_check(_stream: exports::teamster::plugin::kind::Stream, line: String) -> bool {
        line.contains("ready")
    }
}

export!(Old);
