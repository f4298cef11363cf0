//! The MP4 file of a clip.

use std::path::Path;

use ffmpeg_next as ff;

use super::recorder::Output;

pub(super) fn open_muxer(
    dir: &Path,
    part: &Path,
    output: &Output,
) -> Result<ff::format::context::Output, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| e.to_string())?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut muxer = ff::format::output_as(part, "mp4").map_err(|e| e.to_string())?;
    // FFmpeg creates the file as the umask allows; evidence is its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(part, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
    }
    {
        let mut stream = muxer
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(|e| e.to_string())?;
        stream.set_parameters(output.params.clone());
        stream.set_time_base(output.time_base);
    }
    let mut options = ff::Dictionary::new();
    // The index up front: a browser can play and seek before it has the whole file.
    options.set("movflags", "+faststart");
    muxer
        .write_header_with(options)
        .map_err(|e| format!("MP4 header: {e}"))?;
    Ok(muxer)
}
