//! The seed's ApiRateLimiter: Kong enforces the limit; the service only warns when a consumer is
//! close to it, so an operator sees a client about to be throttled before its users do.

use poem::{Endpoint, Request};

const WARN_AT_OR_BELOW: i64 = 10;

pub async fn warn_near_rate_limit<E: Endpoint>(next: E, req: Request) -> poem::Result<E::Output> {
    let remaining = req
        .header("X-RateLimit-Remaining")
        .and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(remaining) = remaining.filter(|r| *r <= WARN_AT_OR_BELOW) {
        let consumer = req
            .header("X-Consumer-Username")
            .or_else(|| req.header(super::CONSUMER_ID))
            .unwrap_or("unknown");
        tracing::warn!(
            consumer,
            remaining,
            limit = req.header("X-RateLimit-Limit").unwrap_or("unknown"),
            "API rate limit approaching"
        );
    }
    next.call(req).await
}
