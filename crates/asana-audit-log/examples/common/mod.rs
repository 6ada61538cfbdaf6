//! What the examples share: connect to the real API when configured, else to a mock server.

use asana_audit_log::Client;
use asana_audit_log_mock::{MockServer, MockServerBuilder};

/// Where an example reads from.
pub struct Target {
    /// The mock server, when no real API is configured; keep it alive for the whole run.
    pub mock: Option<MockServer>,
    /// A client for the real API or the mock.
    pub client: Client,
    /// The workspace to read.
    pub workspace: String,
}

/// The real API when `ASANA_ACCESS_TOKEN` and `ASANA_WORKSPACE_GID` are set (and
/// `ASANA_BASE_URL`, optionally); else starts `mock` and points a client at it, allowed
/// `mock_requests_per_minute` when given.
pub async fn connect(
    mock: MockServerBuilder,
    mock_requests_per_minute: Option<u32>,
) -> Result<Target, Box<dyn std::error::Error>> {
    if let (Ok(_), Ok(workspace)) = (
        std::env::var("ASANA_ACCESS_TOKEN"),
        std::env::var("ASANA_WORKSPACE_GID"),
    ) {
        let mut builder = Client::builder().token_from_env();
        if let Ok(base) = std::env::var("ASANA_BASE_URL") {
            builder = builder.base_url(base);
        }
        return Ok(Target {
            mock: None,
            client: builder.build()?,
            workspace,
        });
    }
    let mock = mock.start().await?;
    eprintln!(
        "no ASANA_ACCESS_TOKEN/ASANA_WORKSPACE_GID: using a mock server at {}",
        mock.base_url()
    );
    let mut builder = Client::builder()
        .token(mock.token())
        .base_url(mock.base_url());
    if let Some(per_minute) = mock_requests_per_minute {
        builder = builder.requests_per_minute(per_minute);
    }
    Ok(Target {
        client: builder.build()?,
        workspace: mock.workspace_gid().to_owned(),
        mock: Some(mock),
    })
}
