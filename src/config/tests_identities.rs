//! `[[identities]]`: shapes that are refused, each at its file:line and key.

use super::Config;

fn parse(extra: &str) -> Result<Config, String> {
    let text = format!(
        "[targets]\nmono = {{ url = \"http://127.0.0.1:1\", role = \"primary\" }}\n\
         auth = {{ url = \"http://127.0.0.1:2\" }}\n{extra}"
    );
    Config::parse(&text, "c.toml").map_err(|e| e.to_string())
}

#[test]
fn bad_entries_are_refused_at_their_key() {
    for (extra, want) in [
        (
            "[[identities]]\nlabel = \"x\"\n[identities.targets.nope]\nheader = \"x-api-key\"\nvalue_env = \"K\"\n",
            "`identities[0].targets.nope`: unknown target `nope`",
        ),
        (
            "[[identities]]\nlabel = \"x\"\n[identities.targets.auth]\nheader = \"x-api-key\"\n",
            "`identities[0].targets.auth`: give `value_env`",
        ),
        (
            "[[identities]]\nlabel = \"x\"\n[identities.targets.auth]\nvalue_env = \"K\"\nlogin = \"l.yaml\"\nusername_env = \"U\"\npassword_env = \"P\"\n",
            "not both",
        ),
        (
            "[[identities]]\nlabel = \"x\"\n[identities.targets.auth]\nlogin = \"l.yaml\"\nusername_env = \"U\"\n",
            "needs `password_env`",
        ),
        (
            "[[identities]]\nlabel = \"x\"\n[identities.targets.auth]\nheader = \"x-api-key\"\nscheme = \"Bearer\"\nvalue_env = \"K\"\n",
            "`scheme` goes with `header = \"authorization\"` only",
        ),
        (
            "[[identities]]\nlabel = \"x\"\n[identities.targets.auth]\ncookie = \"sid\"\nheader = \"x\"\nvalue_env = \"K\"\n",
            "exactly one of `header` or `cookie`",
        ),
        (
            "[[identities]]\nlabel = \"x\"\n[identities.targets.auth]\ncookie = \"sid\"\nvalue_env = \"1BAD\"\n",
            "`1BAD` is not an environment variable name",
        ),
        (
            "[[identities]]\nlabel = \"x\"\n[identities.targets.auth]\ncookie = \"sid\"\nvalue_env = \"K\"\n\
             [[identities]]\nlabel = \"x\"\n[identities.targets.auth]\ncookie = \"sid\"\nvalue_env = \"K\"\n",
            "`identities[1].label`: label `x` is configured twice",
        ),
        (
            "[[identities]]\nlabel = \"x\"\n[identities.targets.auth]\ncookie = \"sid\"\nvalue = \"inline-secret\"\n",
            "unknown field `value`",
        ),
    ] {
        match parse(extra) {
            Ok(_) => panic!("accepted: {extra}"),
            Err(e) => assert!(
                e.contains(want) && e.starts_with("c.toml:"),
                "{e}\nwanted: {want}"
            ),
        }
    }
}

#[test]
fn a_good_entry_keeps_where_its_variables_are_written() {
    let c = parse(
        "[[identities]]\nlabel = \"bot\"\n[identities.targets.auth]\ncookie = \"sid\"\nvalue_env = \"BOT_SID\"\n",
    )
    .expect("valid");
    let t = &c.file.identities[0].targets["auth"];
    match t.source() {
        super::CredentialSource::Static { place, value } => {
            assert_eq!(place, super::StaticPlace::Cookie { name: "sid".into() });
            assert_eq!(value.name, "BOT_SID");
            assert_eq!(
                value.at,
                "c.toml:8:13: `identities[0].targets.auth.value_env`"
            );
        }
        other => panic!("{other:?}"),
    }
}
