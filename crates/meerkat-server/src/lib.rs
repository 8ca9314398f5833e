//! The Meerkat node.
pub async fn run(config: meerkat_config::Config) -> anyhow::Result<()> {
    let _ = config;
    todo!()
}
