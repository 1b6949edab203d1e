//! Shell completions and the manual page come from the same command-line
//! definition as the program, so they cannot drift from it.

mod common;

use std::process::Command;

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Command::new(common::bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = common::stdout(&out);
        for word in ["server", "client", "overhead", "--pcap"] {
            assert!(text.contains(word), "{shell}: no {word}");
        }
    }
    let out = Command::new(common::bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_manual_page_is_roff() {
    let out = Command::new(common::bin()).arg("man").output().unwrap();
    assert!(out.status.success());
    let text = common::stdout(&out);
    assert!(text.contains(".TH ardei-lab 1"), "{text}");
    assert!(text.contains("client"));
    // Every subcommand's options are on the one page, under its own heading.
    for heading in ["ARDEI-LAB SERVER", "ARDEI-LAB CLIENT", "ARDEI-LAB OVERHEAD"] {
        assert!(text.contains(heading), "no {heading}");
    }
    for flag in [
        "\\-\\-echo",
        "\\-\\-max\\-file",
        "\\-\\-recv\\-timeout",
        "\\-\\-mtu",
    ] {
        assert!(text.contains(flag), "no {flag} in the page");
    }
}
