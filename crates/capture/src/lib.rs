/*!
Frame sources for fightwatch: video files, RTSP/HTTP IP cameras, USB cameras, image folders.

It is the first stage of the pipeline (**capture** → inference → alerts → broadcaster): it
turns any camera or recording into a stream of RGB frames with timestamps, reconnecting live
sources and pacing recorded ones. The sources are built by the capture issue (#4); until then
this crate holds nothing, rather than a stand-in.
*/
