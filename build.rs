//! Compresses the phone player's files (`src/player/web/`) with gzip at build
//! time and lists them for `src/player/assets.rs`, so the page ships inside
//! the binary at a third of its size and is sent without compressing
//! anything at run time.

use std::io::Write;
use std::path::Path;

/// (URL path, file, Content-Type)
const FILES: [(&str, &str, &str); 5] = [
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/app.js", "app.js", "text/javascript; charset=utf-8"),
    ("/app.css", "app.css", "text/css; charset=utf-8"),
    (
        "/manifest.webmanifest",
        "manifest.webmanifest",
        "application/manifest+json",
    ),
    ("/icon.svg", "icon.svg", "image/svg+xml"),
];

/// FNV-1a, 64 bits: a content fingerprint for the ETag.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let web = Path::new("src/player/web");
    println!("cargo::rerun-if-changed=src/player/web");
    let mut list = String::from("&[\n");
    for (url, name, mime) in FILES {
        let src = web.join(name);
        println!("cargo::rerun-if-changed={}", src.display());
        let data = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::best());
        gz.write_all(&data).expect("gzip in memory");
        let gz = gz.finish().expect("gzip in memory");
        let gz_path = Path::new(&out_dir).join(format!("{name}.gz"));
        std::fs::write(&gz_path, &gz).expect("writing to OUT_DIR");
        list.push_str(&format!(
            "    Asset {{ path: {url:?}, content_type: {mime:?}, gzip: include_bytes!({gz:?}), len: {len}, etag: \"\\\"{etag:016x}\\\"\" }},\n",
            gz = gz_path.display().to_string(),
            len = data.len(),
            etag = fnv1a(&data),
        ));
    }
    list.push_str("]\n");
    std::fs::write(Path::new(&out_dir).join("assets.rs"), list).expect("writing to OUT_DIR");
}
