//! A component that targets `teamster:plugin@9.0.0`, a version of the interface this host does
//! not speak. The host must refuse it with a message naming both versions.

wit_bindgen::generate!({
    inline: "
        package teamster:plugin@9.0.0;

        interface kind {
            describe: func() -> string;
        }

        world service-kind {
            export kind;
        }
    ",
});

struct Future;

impl exports::teamster::plugin::kind::Guest for Future {
    fn describe() -> String {
        "from the future".to_string()
    }
}

export!(Future);
