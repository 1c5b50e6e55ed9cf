//! The operator console as a browser-less client sees it: signed in with an API key, the
//! session cookie kept, forms posted with their CSRF token, redirects not followed.

/// A browser-less console client: keeps the session cookie, never follows redirects.
pub struct Console {
    pub base: String,
    pub client: reqwest::Client,
    pub cookie: Option<String>,
}

impl Console {
    pub fn new(address: &str) -> Self {
        Self {
            base: address.to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// Loads the sign-in page, then posts its form with `key`; keeps the session cookie.
    pub async fn login(&mut self, key: &str) -> reqwest::Response {
        let page = self
            .client
            .get(format!("{}/console/login", self.base))
            .send()
            .await
            .unwrap();
        let login_cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        assert!(login_cookie.starts_with("inlet_login="), "{login_cookie}");
        let csrf = field(&page.text().await.unwrap(), "_csrf");
        let r = self
            .client
            .post(format!("{}/console/login", self.base))
            .header("cookie", login_cookie)
            .form(&[("api_key", key), ("_csrf", &csrf)])
            .send()
            .await
            .unwrap();
        if let Some(set) = r.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
        r
    }

    pub async fn get(&self, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, String, reqwest::header::HeaderMap) {
        self.send(self.client.post(format!("{}{path}", self.base)).form(form))
            .await
    }

    /// Sends with the session cookie, if any: status, body and headers.
    async fn send(
        &self,
        mut req: reqwest::RequestBuilder,
    ) -> (u16, String, reqwest::header::HeaderMap) {
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, r.text().await.unwrap(), headers)
    }

    /// The CSRF token in the forms of `path`.
    pub async fn csrf(&self, path: &str) -> String {
        let (status, html, _) = self.get(path).await;
        assert_eq!(status, 200, "{html}");
        field(&html, "_csrf")
    }
}

/// The value of the first hidden field `name` in `html`.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}
