//! `demo-camera`: a simulated camera. Publishes `Image` (rgb8) on
//! `camera/image`, loaned with `loan_slice` and drawn in place: diagonal
//! colour bands that scroll one step per frame, with a white bar sweeping
//! down the picture.
//!
//! An executor timer at `rate` draws and sends each frame; the publisher is
//! captured by reference.
//!
//! Params: `rate` (Hz, 30), `width` (640), `height` (480), `frame_id`
//! ("camera"), `history` (4). Read at start: a SIGHUP reload applies them
//! at the next start.

use std::process::ExitCode;

use anyhow::Context as _;
use axon::{Hz, Node};
use axon_msgs::{encodings, Encoding, Header, Image};

fn main() -> ExitCode {
    axon::run("camera", camera)
}

fn camera(node: &Node) -> anyhow::Result<()> {
    let rate = node.param_or("rate", Hz::new(30.0))?;
    let width: u32 = node.param_or("width", 640)?;
    let height: u32 = node.param_or("height", 480)?;
    let frame_id: String = node.param_or("frame_id", "camera".to_string())?;
    let history: u32 = node.param_or("history", 4)?;
    anyhow::ensure!(width > 0 && height > 0, "width and height must be positive");
    let step = width
        .checked_mul(3)
        .context("width is too large for an rgb8 row")?;
    let len = step as usize * height as usize;
    let publisher = node
        .publisher::<Image>("camera/image")
        .history(history)
        .max_len(len)
        .create()
        .context("publisher on camera/image")?;
    println!(
        "camera: {width}x{height} rgb8 at {rate} on {}",
        publisher.topic()
    );
    let mut seq = 0u64;
    node.every(rate.period(), || {
        let mut image = match publisher.loan_slice(len) {
            Ok(image) => image,
            Err(e) => {
                eprintln!("camera: frame {seq} skipped: {e}");
                return;
            }
        };
        image.encoding = Encoding::new(encodings::RGB8);
        (image.width, image.height, image.step) = (width, height, step);
        image.is_bigendian = 0;
        image._pad = [0; 3];
        draw(image.pixels_mut(), width as usize, height as usize, seq);
        // Stamp last, so the stamp is as close to the send as possible.
        let mut header = Header::now(&frame_id);
        header.seq = seq;
        image.header = header;
        image.send();
        seq += 1;
    })
    .on_reload(|reloaded| match reloaded {
        Ok(()) => println!("{}: params reloaded", node.name()),
        Err(e) => eprintln!("{}: reloading params: {e}", node.name()),
    })
    .spin()?; // returns on SIGINT/SIGTERM
    println!("camera: stopping after {seq} frames");
    Ok(())
}

/// Draws frame `n` of the moving pattern into `pixels` (rgb8, packed rows).
fn draw(pixels: &mut [u8], width: usize, height: usize, n: u64) {
    let shift = (n as usize * 4) % 256;
    let bar = (n as usize * 8) % height.max(1);
    for (y, row) in pixels.chunks_exact_mut(width * 3).enumerate() {
        if y.abs_diff(bar) < 4 {
            row.fill(255);
            continue;
        }
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let d = (x + y + shift) as u8;
            px[0] = d;
            px[1] = (x as u8).wrapping_add(shift as u8);
            px[2] = 255 - d;
        }
    }
}
