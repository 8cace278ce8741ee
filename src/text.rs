//! Text helpers shared by every layer: what goes into a Gerrit message, a log line or a console
//! line from outside is made safe here, once.

/// Longest link or status from a callback put into a Gerrit message.
pub const MAX_WIRE_TEXT: usize = 1_000;

/// What a callback says, made safe for a Gerrit message: control characters removed (a CR/LF
/// in a link would start new lines, even command lines, in the bot's own message), cut to
/// [`MAX_WIRE_TEXT`] characters.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_WIRE_TEXT)
        .collect()
}
