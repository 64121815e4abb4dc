//! A readable device name from a User-Agent: "Firefox on Windows". Deliberately small: it
//! names the common browsers and systems and says "Unknown" otherwise, rather than guess.

/// Browser, operating system and device type parsed from a User-Agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub browser: &'static str,
    pub os: &'static str,
    pub kind: &'static str,
}

impl Device {
    pub fn parse(user_agent: &str) -> Self {
        let ua = user_agent;
        // Order matters: Edge and Opera say "Chrome", Chrome says "Safari".
        let browser = [
            ("Edg/", "Edge"),
            ("OPR/", "Opera"),
            ("Firefox/", "Firefox"),
            ("Chromium/", "Chromium"),
            ("Chrome/", "Chrome"),
            ("CriOS/", "Chrome"),
            ("Safari/", "Safari"),
            ("curl/", "curl"),
            ("python-requests", "Python"),
        ]
        .iter()
        .find(|(marker, _)| ua.contains(marker))
        .map_or("Unknown browser", |(_, name)| name);
        let os = [
            ("Windows", "Windows"),
            ("iPhone", "iOS"),
            ("iPad", "iPadOS"),
            ("Android", "Android"),
            ("Mac OS X", "macOS"),
            ("CrOS", "ChromeOS"),
            ("Linux", "Linux"),
        ]
        .iter()
        .find(|(marker, _)| ua.contains(marker))
        .map_or("Unknown OS", |(_, name)| name);
        let kind = if ua.contains("iPad") || ua.contains("Tablet") {
            "tablet"
        } else if ua.contains("Mobi") || ua.contains("iPhone") {
            "mobile"
        } else if browser == "curl" || browser == "Python" || browser == "Unknown browser" {
            "other"
        } else {
            "desktop"
        };
        Self { browser, os, kind }
    }

    /// "Firefox on Windows".
    pub fn label(&self) -> String {
        format!("{} on {}", self.browser, self.os)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Windows",
                "desktop",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
                "Chrome on macOS",
                "desktop",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0",
                "Edge on Windows",
                "desktop",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
                "mobile",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
                "Chrome on Android",
                "mobile",
            ),
            ("curl/8.5.0", "curl on Unknown OS", "other"),
            ("Unknown", "Unknown browser on Unknown OS", "other"),
        ];
        for (ua, label, kind) in cases {
            let device = Device::parse(ua);
            assert_eq!((device.label().as_str(), device.kind), (label, kind), "{ua}");
        }
    }
}
