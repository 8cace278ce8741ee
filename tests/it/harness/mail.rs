//! Gerrit notification mails as Gerrit 3.x writes them.

use super::{PROJECT, SENDER};

/// What a Gerrit notification mail says; [`MailSpec::render`] writes it the way Gerrit 3.x
/// does (multipart/alternative, quoted-printable, CRLF).
#[derive(Clone, Debug)]
pub struct MailSpec {
    pub message_type: String,
    pub change_number: Option<u64>,
    pub change_id: String,
    pub patch_set: u32,
    pub project: String,
    pub from: String,
    pub reply_to: String,
    /// For comment mails: the cover letter after "Patch Set N:" (votes then "\n\n" message).
    pub votes: String,
    pub message: String,
    pub message_id: String,
    /// The commenter's display name, as the mail's first line gives it.
    pub author: String,
    /// `Gerrit-Comment-Date` (RFC 2822), for comment mails.
    pub comment_date: Option<String>,
}

impl MailSpec {
    pub fn new(message_type: &str, number: u64, patch_set: u32) -> MailSpec {
        MailSpec {
            message_type: message_type.into(),
            change_number: Some(number),
            change_id: change_id_for(number),
            patch_set,
            project: PROJECT.into(),
            from: format!("Dana Whitfield (Gerrit) <{SENDER}>"),
            reply_to: "dwhitfield@google.com".into(),
            votes: String::new(),
            message: String::new(),
            message_id: format!(
                "<{number}-{patch_set}-{message_type}-{}@gerrit.example>",
                fastrand::u64(..)
            ),
            author: super::DANA.into(),
            comment_date: Some("Tue, 05 Mar 2024 18:22:11 +0000".into()),
        }
    }

    pub fn comment(number: u64, patch_set: u32, votes: &str, message: &str) -> MailSpec {
        let mut m = MailSpec::new("comment", number, patch_set);
        m.votes = votes.into();
        m.message = message.into();
        m
    }

    pub fn text(&self) -> String {
        let mut body = String::new();
        match self.message_type.as_str() {
            "comment" => {
                body.push_str(&format!(
                    "{} has posted comments on this change. ( https://review.example/c/x/+/1 )\n\n",
                    self.author
                ));
                body.push_str("Change subject: Fix strlen\n");
                body.push_str(
                    "......................................................................\n\n\n",
                );
                let votes = if self.votes.is_empty() {
                    String::new()
                } else {
                    format!(" {}", self.votes)
                };
                body.push_str(&format!("Patch Set {}:{votes}\n", self.patch_set));
                if !self.message.is_empty() {
                    body.push_str(&format!("\n{}\n", self.message));
                }
                body.push('\n');
            }
            _ => {
                body.push_str("Dana Whitfield has uploaded this change for review. ( https://review.example/c/x/+/1 )\n\n");
                body.push_str("Change subject: Fix strlen\n");
                body.push_str(
                    "......................................................................\n\n",
                );
                body.push_str(&format!("Fix strlen\n\nChange-Id: {}\n---\nM libc/bionic/strlen.cpp\n1 file changed, 1 insertion(+)\n\n", self.change_id));
            }
        }
        body.push_str("-- \nTo view, visit https://review.example/c/x/+/1\n\n");
        body.push_str(&format!("Gerrit-MessageType: {}\n", self.message_type));
        body.push_str(&format!(
            "Gerrit-Project: {}\nGerrit-Branch: main\n",
            self.project
        ));
        body.push_str(&format!("Gerrit-Change-Id: {}\n", self.change_id));
        if let Some(n) = self.change_number {
            body.push_str(&format!("Gerrit-Change-Number: {n}\n"));
        }
        body.push_str(&format!("Gerrit-PatchSet: {}\n", self.patch_set));
        body.push_str("Gerrit-Owner: Dana Whitfield <dwhitfield@google.com>\n");
        if self.message_type == "comment" {
            if let Some(date) = &self.comment_date {
                body.push_str(&format!("Gerrit-Comment-Date: {date}\n"));
            }
            body.push_str("Gerrit-HasComments: No\nGerrit-Has-Labels: Yes\n");
        }
        body
    }

    /// The mail as Gerrit 3.x sends it.
    pub fn render(&self) -> Vec<u8> {
        let text = qp(&self.text());
        let html = qp(&format!(
            "<html><body><pre>{}</pre></body></html>",
            self.text().replace('<', "&lt;")
        ));
        let b = "Xq7Rz9+/Kk2=";
        format!(
            "Date: Tue, 5 Mar 2024 18:22:11 +0000\r\nFrom: {from}\r\nTo: bionicbb <bionicbb@android.com>\r\n\
             Reply-To: {reply_to}\r\nMessage-ID: {mid}\r\nSubject: Change in ...bionic[main]: Fix strlen\r\n\
             X-Gerrit-MessageType: {t}\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n\
             Content-Type: multipart/alternative; boundary=\"{b}\"; charset=UTF-8\r\n\r\n\
             --{b}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{text}\r\n\
             --{b}\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{html}\r\n\
             --{b}--\r\n",
            from = self.from,
            reply_to = self.reply_to,
            mid = self.message_id,
            t = self.message_type,
        )
        .into_bytes()
    }
}

/// A deterministic Change-Id for a change number.
pub fn change_id_for(number: u64) -> String {
    format!("I{:040x}", number * 0x9e37_79b9)
}

/// Quoted-printable as mime4j writes it: soft breaks every 76 columns, wherever they land
/// (inside footer lines too), `=` and `.` escaped, CRLF line ends.
fn qp(text: &str) -> String {
    let mut out = String::new();
    for line in text.split('\n') {
        let mut col = 0;
        for b in line.bytes() {
            let enc = if b == b'=' || b == b'.' || !(b == b' ' || b.is_ascii_graphic()) {
                format!("={b:02X}")
            } else {
                (b as char).to_string()
            };
            if col + enc.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            col += enc.len();
            out.push_str(&enc);
        }
        out.push_str("\r\n");
    }
    out
}

/// Milliseconds since the epoch as an RFC 2822 date in UTC (`Tue, 05 Mar 2024 18:22:11 +0000`),
/// as Gerrit writes `Gerrit-Comment-Date`.
pub fn rfc2822(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        months[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn rfc2822_dates_are_what_gerrit_writes() {
    assert_eq!(
        rfc2822(1_709_662_931_000),
        "Tue, 05 Mar 2024 18:22:11 +0000"
    );
    assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
}
