//! `custom-misp`: the program wazuh-integratord runs once per alert.
//!
//! All the work lives in the `wazuh_misp` library; this file only turns its
//! outcome into the process exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(wazuh_misp::main_with_args(std::env::args_os()))
}
