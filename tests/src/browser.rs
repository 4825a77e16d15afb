//! A real browser for the web pages' end-to-end tests: Debian's headless Chromium driven over
//! WebDriver (`chromedriver`, started here on a free port) with `fantoccini`.
//!
//! Chromium and chromedriver are installed by `scripts/test-servers.sh`; when either is missing
//! the test fails with a message saying to run `scripts/test.sh`, it is never skipped.
//!
//! The flags matter on this kind of machine: without `--disable-background-networking`,
//! `--disable-component-update` and friends Chromium's own background connections fail and page
//! loads are refused; `--no-sandbox` because the tests run as root; a fresh `--user-data-dir`
//! per browser so that parallel tests share no cookies.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::servers::{free_port, wait_for_port};

const HINT: &str = "the browser tests need Debian's chromium and chromium-driver: run scripts/test.sh \
                    (scripts/test-servers.sh start installs them)";

/// Width and height of the browser window, and so of its screenshots.
pub const WINDOW: (u32, u32) = (1280, 1000);

/// The two screens the pages are made for: a desktop window and a phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// 1280 x 900 CSS pixels.
    Desktop,
    /// 390 x 844 CSS pixels at device pixel ratio 1 (an iPhone 12-14's CSS viewport).
    Phone,
}

impl Screen {
    pub const ALL: [Screen; 2] = [Screen::Desktop, Screen::Phone];

    /// The viewport in CSS pixels.
    pub fn size(self) -> (u32, u32) {
        match self {
            Screen::Desktop => (1280, 900),
            Screen::Phone => (390, 844),
        }
    }

    /// `desktop` or `phone`, for file names.
    pub fn name(self) -> &'static str {
        match self {
            Screen::Desktop => "desktop",
            Screen::Phone => "phone",
        }
    }
}

/// A headless Chromium session. Dropping it kills chromedriver (and with it the browser).
pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| candidates.iter().map(move |c| dir.join(c)))
        .find(|p| p.is_file())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a fresh profile.
    pub async fn start() -> Result<Browser> {
        Browser::launch(None, None).await
    }

    /// A browser whose viewport is exactly `screen` (Chromium's device emulation, so that a
    /// phone's 390 px are not widened to the smallest window the platform allows).
    pub async fn on(screen: Screen) -> Result<Browser> {
        Browser::launch(Some(screen), None).await
    }

    /// [`Browser::on`] with the browser's clock in the IANA time zone `zone` (the `TZ` of
    /// chromedriver, which Chromium inherits), as a reader elsewhere sees the pages.
    pub async fn in_zone(screen: Screen, zone: &str) -> Result<Browser> {
        Browser::launch(Some(screen), Some(zone)).await
    }

    async fn launch(screen: Option<Screen>, zone: Option<&str>) -> Result<Browser> {
        let chromium = find_program(&["chromium", "chromium-browser"])
            .with_context(|| format!("no chromium on PATH: {HINT}"))?;
        let chromedriver = find_program(&["chromedriver"])
            .with_context(|| format!("no chromedriver on PATH: {HINT}"))?;
        let port = free_port()?;
        let profile = tempfile::tempdir()?;
        let mut command = Command::new(&chromedriver);
        if let Some(zone) = zone {
            command.env("TZ", zone);
        }
        let driver = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}: {HINT}", chromedriver.display()))?;
        wait_for_port(port, Duration::from_secs(20))
            .await
            .context("chromedriver did not listen")?;
        let mut capabilities = serde_json::Map::new();
        let mut options = json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars",
                format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                format!("--user-data-dir={}", profile.path().display()),
                // The daemon's certificate is signed by the throwaway test CA, which is not
                // in Chromium's trust store; accepted for these tests only.
                "--ignore-certificate-errors",
            ],
        });
        if let Some(screen) = screen {
            let (width, height) = screen.size();
            // Not "mobile": that would lay pages out at 980 px and zoom out until a page's
            // viewport meta applies; the width is what is tested.
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0,
                                   "mobile": false, "touch": screen == Screen::Phone },
            });
        }
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        capabilities.insert("acceptInsecureCerts".to_owned(), json!(true));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .with_context(|| format!("open a WebDriver session on chromedriver: {HINT}"))?;
        Ok(Browser {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("open {url}"))
    }

    /// Types `text` into the field matched by the CSS `selector` (after clearing it).
    pub async fn fill(&self, selector: &str, text: &str) -> Result<()> {
        let field = self
            .client
            .find(Locator::Css(selector))
            .await
            .with_context(|| format!("find {selector}"))?;
        field
            .clear()
            .await
            .with_context(|| format!("clear {selector}"))?;
        field
            .send_keys(text)
            .await
            .with_context(|| format!("type into {selector}"))?;
        Ok(())
    }

    /// Selects the `<option>` whose value is `value` in the `<select>` matched by `selector`.
    pub async fn select(&self, selector: &str, value: &str) -> Result<()> {
        let option = format!("{selector} option[value=\"{value}\"]");
        self.click(&option).await
    }

    pub async fn click(&self, selector: &str) -> Result<()> {
        let element = self
            .client
            .find(Locator::Css(selector))
            .await
            .with_context(|| format!("find {selector}"))?;
        element
            .click()
            .await
            .with_context(|| format!("click {selector}"))?;
        Ok(())
    }

    /// The visible text of the element matched by `selector`.
    pub async fn text(&self, selector: &str) -> Result<String> {
        let element = self
            .client
            .find(Locator::Css(selector))
            .await
            .with_context(|| format!("find {selector}"))?;
        Ok(element.text().await?)
    }

    /// Whether at least one element matches `selector`.
    pub async fn exists(&self, selector: &str) -> Result<bool> {
        Ok(!self
            .client
            .find_all(Locator::Css(selector))
            .await?
            .is_empty())
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> Result<String> {
        Ok(self.client.source().await?)
    }

    pub async fn current_path(&self) -> Result<String> {
        Ok(self.client.current_url().await?.path().to_owned())
    }

    /// Waits until the page's path satisfies `done` (a click's navigation may still be under
    /// way when the click returns), or fails after `timeout` with the path it is at.
    pub async fn wait_path(
        &self,
        done: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let path = self.current_path().await?;
            if done(&path) {
                return Ok(path);
            }
            if Instant::now() > deadline {
                bail!("the browser stayed at {path} for {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's full URL.
    pub async fn current_url(&self) -> Result<url::Url> {
        Ok(self.client.current_url().await?)
    }

    /// Waits (without reloading) until the text of `selector` contains `text`, as after a
    /// form's navigation; fails after `timeout` with what the page shows.
    pub async fn wait_text(&self, selector: &str, text: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(found) = self.text(selector).await
                && found.contains(text)
            {
                return Ok(found);
            }
            if Instant::now() > deadline {
                bail!(
                    "{selector} did not show {text:?} within {timeout:?}; page:\n{}",
                    self.source().await?
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reloads `url` until `selector` exists, or fails after `timeout`.
    pub async fn wait_for(&self, url: &str, selector: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.goto(url).await?;
            if self.exists(selector).await? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{selector} did not appear on {url} within {timeout:?}; page:\n{}",
                    self.source().await?
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The size of the page's viewport in device pixels (the window less Chromium's frame):
    /// what a screenshot covers. WebDriver scripts are not subject to the page's CSP.
    pub async fn viewport(&self) -> Result<(u32, u32)> {
        let value = self
            .client
            .execute("return [Math.round(window.innerWidth * window.devicePixelRatio), Math.round(window.innerHeight * window.devicePixelRatio)];", vec![])
            .await
            .context("read the viewport size")?;
        let size: (u32, u32) = serde_json::from_value(value).context("viewport size")?;
        Ok(size)
    }

    /// Takes a screenshot, checks it (a PNG of the viewport's size that is not blank) and
    /// saves it at `path`. Returns its width and height.
    pub async fn screenshot(&self, path: &Path) -> Result<(u32, u32)> {
        let png_bytes = self
            .client
            .screenshot()
            .await
            .context("take a screenshot")?;
        let (width, height) = check_screenshot(&png_bytes)?;
        let viewport = self.viewport().await?;
        ensure!(
            (width, height) == viewport,
            "screenshot is {width}x{height}, the viewport {}x{}",
            viewport.0,
            viewport.1
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &png_bytes).with_context(|| format!("save {}", path.display()))?;
        Ok((width, height))
    }

    /// Runs `script` (a function body that `return`s a JSON value) in the page. WebDriver
    /// scripts are not subject to the page's CSP; the pages themselves run none.
    pub async fn eval<T: serde::de::DeserializeOwned>(&self, script: &str) -> Result<T> {
        let value = self
            .client
            .execute(script, vec![])
            .await
            .with_context(|| format!("run {script}"))?;
        serde_json::from_value(value).with_context(|| format!("result of {script}"))
    }

    /// Fails when the page is wider than the viewport: `document.documentElement.scrollWidth`
    /// against `innerWidth`, naming the widest elements that stick out.
    pub async fn assert_fits(&self, what: &str) -> Result<()> {
        let (scroll, inner, culprits): (u32, u32, Vec<String>) = self
            .eval(
                "const w = window.innerWidth; \
                 const out = [...document.querySelectorAll('body *')] \
                   .filter(e => e.getBoundingClientRect().right > w + 0.5) \
                   .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id); \
                 return [document.documentElement.scrollWidth, w, out];",
            )
            .await?;
        ensure!(
            scroll <= inner,
            "{what} is {scroll} px wide in a {inner} px viewport; sticking out: {culprits:?}"
        );
        Ok(())
    }

    /// Fails when the items of the main navigation do not share one row (a navigation that
    /// wraps onto a second line), naming each item's vertical centre.
    pub async fn assert_navigation_on_one_row(&self, what: &str) -> Result<()> {
        let centres: Vec<(String, f64)> = self
            .eval(
                "return [...document.querySelectorAll('nav[aria-label=\"Main\"] > *')] \
                   .map(e => { const r = e.getBoundingClientRect(); \
                               return [e.textContent.trim(), r.top + r.height / 2]; });",
            )
            .await?;
        ensure!(!centres.is_empty(), "{what} has no main navigation");
        let first = centres[0].1;
        ensure!(
            centres.iter().all(|(_, y)| (y - first).abs() <= 2.0),
            "{what}: the navigation wraps; item centres {centres:?}"
        );
        Ok(())
    }

    /// The `textContent` of the element matched by `selector` (visually hidden text included,
    /// as a screen reader reads it), with runs of white space as one space.
    pub async fn accessible_text(&self, selector: &str) -> Result<String> {
        let selector_json = serde_json::to_string(selector)?;
        let text: Option<String> = self
            .eval(&format!(
                "const e = document.querySelector({selector_json}); \
                 return e ? e.textContent.replace(/\\s+/g, ' ').trim() : null;"
            ))
            .await?;
        text.with_context(|| format!("no {selector} on the page"))
    }

    /// Runs the axe-core accessibility engine (`axe_js`: the path of `axe.min.js`) over the page
    /// the browser shows, with its default rules (WCAG 2.x A and AA and best practices, every
    /// impact), and returns what it found broken. The script is injected over WebDriver, which
    /// the page's CSP does not govern: the pages themselves still run no script.
    pub async fn audit(&self, axe_js: &Path) -> Result<Vec<Violation>> {
        let source = std::fs::read_to_string(axe_js).with_context(|| {
            format!(
                "read {} (scripts/test-tools.sh installs axe-core; run scripts/test.sh)",
                axe_js.display()
            )
        })?;
        self.client
            .execute(
                &format!("{source}\n;return typeof window.axe === 'object';"),
                vec![],
            )
            .await
            .context("inject axe-core")?;
        let answer = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 window.axe.run(document, { resultTypes: ['violations'] }) \
                   .then(r => done({ ok: r.violations.map(v => ({ \
                       rule: v.id, impact: v.impact || 'unknown', help: v.help, \
                       nodes: v.nodes.map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').replace(/\\s+/g, ' ')) })) })) \
                   .catch(e => done({ error: String(e) }));",
                vec![],
            )
            .await
            .context("run axe-core")?;
        #[derive(serde::Deserialize)]
        struct Answer {
            ok: Option<Vec<Violation>>,
            error: Option<String>,
        }
        let answer: Answer = serde_json::from_value(answer).context("axe-core's answer")?;
        match (answer.ok, answer.error) {
            (Some(violations), _) => Ok(violations),
            (None, error) => bail!("axe-core failed: {}", error.unwrap_or_default()),
        }
    }

    /// Deletes every cookie of the site the browser shows (signs out without a form).
    pub async fn forget_cookies(&self) -> Result<()> {
        self.client
            .delete_all_cookies()
            .await
            .context("delete the cookies")
    }

    /// The `Cookie` header the browser sends to the site it shows (HttpOnly cookies included),
    /// for fetching what a link offers as a download, which headless Chromium does not show.
    pub async fn cookie_header(&self) -> Result<String> {
        let cookies = self
            .client
            .get_all_cookies()
            .await
            .context("read the cookies")?;
        Ok(cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; "))
    }

    /// Ends the WebDriver session (the browser quits).
    pub async fn close(self) -> Result<()> {
        self.client.close().await.context("close the browser")?;
        Ok(())
    }
}

/// One axe-core rule a page breaks, with the elements that break it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Violation {
    /// The rule's id (`color-contrast`, `label`, …).
    pub rule: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    /// What the rule asks for, in axe-core's words.
    pub help: String,
    /// Each failing element: its CSS selector and axe-core's summary of the failure.
    pub nodes: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.rule, self.impact, self.help)?;
        for node in &self.nodes {
            write!(f, "\n      - {node}")?;
        }
        Ok(())
    }
}

/// Decodes a PNG and checks it is not blank: the variance of its luminance must be clearly
/// above zero (a white or single-colour page has none). Returns width and height.
pub fn check_screenshot(png_bytes: &[u8]) -> Result<(u32, u32)> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder
        .read_info()
        .context("decode the screenshot PNG header")?;
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut pixels)
        .context("decode the screenshot PNG")?;
    let channels = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Grayscale => 1,
        png::ColorType::Indexed => bail!("indexed PNG not expected from Chromium"),
    };
    ensure!(
        info.bit_depth == png::BitDepth::Eight,
        "unexpected bit depth {:?}",
        info.bit_depth
    );
    let data = &pixels[..info.buffer_size()];
    let luminance: Vec<f64> = data
        .chunks_exact(channels)
        .map(|p| {
            if channels >= 3 {
                0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
            } else {
                f64::from(p[0])
            }
        })
        .collect();
    ensure!(!luminance.is_empty(), "empty screenshot");
    let count = luminance.len() as f64;
    let mean = luminance.iter().sum::<f64>() / count;
    let variance = luminance.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / count;
    ensure!(
        variance > 50.0,
        "the screenshot is blank (luminance variance {variance:.1}, mean {mean:.1})"
    );
    Ok((info.width, info.height))
}
