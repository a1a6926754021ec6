//! Cross installs of npm harness tools: for a target platform other than the build
//! machine's, each npm tool is installed on the build machine's foundation with npm's
//! `--os`/`--cpu` for the target, and its layer is merged onto the target's foundation.
//! Nothing is emulated, so a two-platform harness bump costs about what a one-platform bump
//! does.
//!
//! Install scripts run, with the target's architecture shown to them: node's
//! `process.arch` and `os.arch()` (a preloaded module) and `npm_config_arch`. Scripts that
//! only pick the prebuilt binary of the platform (claude-code's postinstall copies it over
//! its `claude` placeholder; without it the command is a stub that says the binary is
//! missing) then pick the target's. A script that compiles native code compiles it for the
//! build machine, so the step then checks every ELF file the tool brought and fails, naming
//! the files and the per-tool way out (`emulate: true`), when one is not for the target;
//! an install that fails outright gets the same way out.

use crate::graph::image_config::ImageConfig;
use crate::graph::names::ProgressNames;
use crate::graph::options::{MergeMode, Options};
use crate::graph::targets::Target;
use crate::spec::ResolvedSpec;
use crate::spec::platform::Platform;
use llb_graph::State;

/// The build machine's foundation, on which npm tools for other platforms are installed.
#[derive(Debug, Clone)]
pub struct CrossBase {
    /// The build machine's platform.
    pub platform: Platform,
    /// The foundation, converted for that platform.
    pub foundation: State,
    /// Its config: the environment npm runs with.
    pub config: ImageConfig,
    /// The progress names of its vertices, which the tools' layers are built on.
    pub names: ProgressNames,
}

impl CrossBase {
    /// The options of the build platform's foundation conversion: `options` with the
    /// foundation target (the engine path and the command line must agree, or their graphs
    /// would differ).
    pub fn options(options: &Options) -> Options {
        let mut o = options.clone();
        o.target = Target::Foundation;
        o
    }
}

/// npm's `--cpu` (node's `process.arch`) for an OCI architecture; `None` for one npm has
/// no name for (its tools are then installed under emulation).
///
/// ```
/// use aishell_frontend::graph::cross::npm_cpu;
/// assert_eq!(npm_cpu("amd64"), Some("x64"));
/// assert_eq!(npm_cpu("arm64"), Some("arm64"));
/// assert_eq!(npm_cpu("mips64le"), None);
/// ```
pub fn npm_cpu(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "x64",
        "arm64" => "arm64",
        "arm" => "arm",
        "386" => "ia32",
        "ppc64le" => "ppc64",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        _ => return None,
    })
}

/// The ELF `e_machine` of an OCI architecture's executables.
pub fn elf_machine(arch: &str) -> Option<u16> {
    Some(match arch {
        "amd64" => 62,
        "arm64" => 183,
        "arm" => 40,
        "386" => 3,
        "ppc64le" => 21,
        "s390x" => 22,
        "riscv64" => 243,
        _ => return None,
    })
}

/// How packages name an architecture in folder names (`prebuilds/linux-x64`,
/// `vendor/aarch64-unknown-linux-musl`).
fn folder_names(arch: &str) -> &'static [&'static str] {
    match arch {
        "amd64" => &["x64", "amd64", "x86_64", "x86-64"],
        "arm64" => &["arm64", "aarch64"],
        "arm" => &[
            "arm", "armv6", "armv6l", "armv7", "armv7l", "armhf", "armel",
        ],
        "386" => &["ia32", "i386", "i686", "x86"],
        "ppc64le" => &["ppc64le", "ppc64"],
        "s390x" => &["s390x"],
        "riscv64" => &["riscv64"],
        _ => &[],
    }
}

const ARCHES: [&str; 7] = [
    "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64",
];

/// A JavaScript regular expression matching a folder name that names one of `arches`
/// as a word (`linux-x64`, `x86_64-unknown-linux-musl`, not `xx64`).
fn names_regex(arches: &[&str]) -> String {
    let mut words: Vec<&str> = arches
        .iter()
        .flat_map(|a| folder_names(a).iter().copied())
        .collect();
    words.sort_unstable();
    words.dedup();
    format!("(^|[-_.])({})($|[-_.])", words.join("|"))
}

/// Whether `spec`'s npm tools are cross-installed for its platform: a merged build of a
/// target with the harness, for a platform npm can name that is not the build machine's.
pub fn applies(spec: &ResolvedSpec, options: &Options) -> bool {
    let build = options.build_platform();
    options.merge_mode == MergeMode::Merge
        && options.target.def().holds.tools
        && spec.platform != build
        && npm_cpu(&spec.platform.arch).is_some()
        && elf_machine(&spec.platform.arch).is_some()
        && spec.spec.harness.npm.iter().any(|t| !t.emulated())
}

/// The node program, run after a cross install, that lists the ELF files under its first
/// argument whose machine is not its second argument, skipping folders that name another
/// architecture only (its third and fourth arguments: regular expressions of the other
/// architectures' and the target's folder names) and, on a glibc system, the prebuilt
/// folders of musl Linux (`prebuilds/linuxmusl-arm64`: prebuild's platform name, which no
/// loader picks on glibc, and which packages ship for every platform, sometimes with a wrong
/// file: @github/keytar 7.10.6 has an x86-64 one there). The libc is the one node runs on,
/// found as npm finds it; the build machine's foundation is the target's for another
/// architecture. Exits 3 when it found one.
const ELF_CHECK: &str = r#"const fs=require("fs"),path=require("path");
const [root,want,other,own]=process.argv.slice(1);
const otherRe=new RegExp(other,"i"),ownRe=new RegExp(own,"i"),bad=[];
const glibc=!!(process.report&&process.report.getReport().header.glibcVersionRuntime);
const muslRe=/^linuxmusl([-_.]|$)/i;
function walk(d){let es;try{es=fs.readdirSync(d,{withFileTypes:true})}catch(e){return}
for(const e of es){const f=path.join(d,e.name);
if(e.isDirectory()){if(!(otherRe.test(e.name)&&!ownRe.test(e.name))&&!(glibc&&muslRe.test(e.name)))walk(f);continue}
if(!e.isFile())continue;const b=Buffer.alloc(20);let n=0;
try{const fd=fs.openSync(f,"r");n=fs.readSync(fd,b,0,20,0);fs.closeSync(fd)}catch(x){continue}
if(n<20||b[0]!==0x7f||b[1]!==0x45||b[2]!==0x4c||b[3]!==0x46)continue;
const m=b[5]===2?b.readUInt16BE(18):b.readUInt16LE(18);
if(m!==Number(want))bad.push(f+" (ELF machine "+m+")")}}
walk(root);
if(bad.length){console.error(bad.slice(0,20).join("\n"));if(bad.length>20)console.error("... and "+(bad.length-20)+" more");process.exit(3)}
"#;

/// The environment variable that holds [`ELF_CHECK`] in the install step.
pub const ELF_CHECK_ENV: &str = "AISHELL_ELF_CHECK";
/// The environment variable that holds the module that shows node the target's
/// architecture; the step writes it to a file under `/tmp` (a tmpfs, never in the layer).
pub const TARGET_MODULE_ENV: &str = "AISHELL_TARGET_ARCH_MODULE";
const TARGET_MODULE_FILE: &str = "/tmp/.aishell-target-arch.js";

/// The install step's extra environment for a cross install to `target`.
pub fn install_env(target: &Platform) -> Vec<(&'static str, String)> {
    let cpu = npm_cpu(&target.arch).unwrap_or_default();
    vec![
        (ELF_CHECK_ENV, ELF_CHECK.to_string()),
        (
            TARGET_MODULE_ENV,
            format!(
                "Object.defineProperty(process,\"arch\",{{value:\"{cpu}\"}});require(\"os\").arch=()=>\"{cpu}\";\n"
            ),
        ),
    ]
}

/// The shell lines of a cross install of `package@version` with `npm` (the install
/// command without its package) under `dir` for `target` on `build`: the install with the
/// target shown to its scripts, then the ELF check; each failure says what to do.
pub fn install_command(
    npm: &str,
    dir: &str,
    package: &str,
    version: &str,
    target: &Platform,
    build: &Platform,
) -> String {
    let cpu = npm_cpu(&target.arch).unwrap_or_default();
    format!(
        "printf '%s' \"${TARGET_MODULE_ENV}\" > {TARGET_MODULE_FILE}; \
         NODE_OPTIONS=--require={TARGET_MODULE_FILE} npm_config_arch={cpu} npm_config_platform={os} \
         {npm} --os={os} --cpu={cpu} {package}@{version} || {{ \
         echo 'npm install of {package}@{version} for {target} failed in a cross install on {build} (an install script may build native code).' >&2; \
         echo '{way_out}' >&2; exit 1; }}; {check};",
        os = target.os,
        way_out = way_out(package, version, target),
        check = elf_check_command(dir, package, version, target, build),
    )
}

fn way_out(package: &str, version: &str, target: &Platform) -> String {
    format!(
        "Install this tool on {target} itself, under emulation: write \"{package}\": {{version: \"{version}\", emulate: true}} under harness.npm (docs/spec.md#cross-installed-npm-tools)."
    )
}

/// The shell lines that run the check after installing `package@version` under `dir` for
/// `target`, failing with the way out.
pub fn elf_check_command(
    dir: &str,
    package: &str,
    version: &str,
    target: &Platform,
    build: &Platform,
) -> String {
    let machine = elf_machine(&target.arch).unwrap_or(0);
    let others: Vec<&str> = ARCHES
        .iter()
        .copied()
        .filter(|a| *a != target.arch)
        .collect();
    let other = names_regex(&others);
    let own = names_regex(&[target.arch.as_str()]);
    format!(
        "node -e \"${ELF_CHECK_ENV}\" {dir} {machine} '{other}' '{own}' || {{ \
         echo 'npm install of {package}@{version} for {target} (cross-installed on {build}) left the files above, built for another architecture.' >&2; \
         echo '{way_out}' >&2; \
         exit 1; }}",
        way_out = way_out(package, version, target),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_name_patterns_name_whole_words() {
        let re = names_regex(&["amd64"]);
        assert!(re.contains("x86_64") && re.contains("x64"), "{re}");
        assert!(re.starts_with("(^|[-_.])("));
    }

    #[test]
    fn the_check_command_names_the_tool_and_the_way_out() {
        let cmd = elf_check_command(
            "/tools/npm",
            "@google/gemini-cli",
            "0.61.0",
            &Platform::parse("linux/arm64").unwrap(),
            &Platform::linux_amd64(),
        );
        assert!(cmd.contains(" /tools/npm 183 "), "{cmd}");
        assert!(cmd.contains("emulate: true"), "{cmd}");
        assert!(
            cmd.contains("for linux/arm64 (cross-installed on linux/amd64"),
            "{cmd}"
        );
        // The other architectures' names, not the target's own.
        assert!(cmd.contains("x86_64"), "{cmd}");
    }

    #[test]
    fn a_cross_install_shows_the_target_to_npm_and_its_scripts_then_checks() {
        let target = Platform::parse("linux/arm64").unwrap();
        let cmd = install_command(
            "npm install --global --prefix /tools/npm",
            "/tools/npm",
            "@anthropic-ai/claude-code",
            "2.1.332",
            &target,
            &Platform::linux_amd64(),
        );
        let install = cmd.find("npm install").unwrap();
        let check = cmd.find("AISHELL_ELF_CHECK").unwrap();
        assert!(install < check, "the check runs after the install: {cmd}");
        assert!(
            cmd.contains("npm_config_arch=arm64 npm_config_platform=linux npm install"),
            "{cmd}"
        );
        assert!(
            cmd.contains("--os=linux --cpu=arm64 @anthropic-ai/claude-code@2.1.332 ||"),
            "{cmd}"
        );
        let env = install_env(&target);
        let module = &env.iter().find(|(k, _)| *k == TARGET_MODULE_ENV).unwrap().1;
        assert!(module.contains(r#"value:"arm64""#), "{module}");
    }
}
