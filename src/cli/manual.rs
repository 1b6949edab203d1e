//! The manual page (`ardei-lab man`): the program's page, then a section
//! per subcommand with its synopsis and every option, all from the same
//! command-line definition as the program. A page with the subcommands'
//! names alone would send a reader to pages (`ardei-lab-client(1)`) that do
//! not exist.

use std::io::Write;

use clap::CommandFactory;

use super::args::Cli;

/// Writes the whole page as roff.
pub fn render(out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("ardei-lab {}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().bin_name(name.clone()));
        let mut text = Vec::new();
        page.render_description_section(&mut text)?;
        page.render_synopsis_section(&mut text)?;
        page.render_options_section(&mut text)?;
        if sub.has_subcommands() {
            page.render_subcommands_section(&mut text)?;
        }
        let text = String::from_utf8_lossy(&text)
            .replace(
                ".SH DESCRIPTION\n",
                &format!(".SH \"{}\"\n", name.to_uppercase()),
            )
            .replace(".SH SYNOPSIS", ".SS Synopsis")
            .replace(".SH OPTIONS", ".SS Options")
            .replace(".SH SUBCOMMANDS", ".SS Subcommands");
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}
