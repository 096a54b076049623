//! The store's numbers, read when scraped: the connection pool and the token writer.

use std::sync::Arc;

use heliogate_store::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

pub(super) struct StoreCollector(pub(super) Arc<dyn Store>);

impl std::fmt::Debug for StoreCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCollector")
    }
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let gauges: [(&str, &str, i64); 5] = [
            (
                "db_pool_connections",
                "Database connections the pool holds open",
                stats.pool_open.into(),
            ),
            (
                "db_pool_idle_connections",
                "Open database connections not in use",
                stats.pool_idle.into(),
            ),
            (
                "db_pool_max_connections",
                "The most connections the pool opens",
                stats.pool_max.into(),
            ),
            (
                "token_writer_queue_depth",
                "Issuances waiting for the token writer's next commit",
                i64::try_from(stats.queue_depth).unwrap_or(i64::MAX),
            ),
            (
                "token_writer_queue_capacity",
                "How many issuances may wait before callers wait to queue",
                i64::try_from(stats.queue_capacity).unwrap_or(i64::MAX),
            ),
        ];
        for (name, help, value) in gauges {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)?;
        }
        // The store counts cumulatively; the encoder adds the buckets up itself, so it is
        // given each bucket's own count.
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = stats
            .batch_buckets
            .iter()
            .map(|(bound, cumulative)| {
                let own = cumulative.saturating_sub(below);
                below = *cumulative;
                (*bound as f64, own)
            })
            .collect();
        buckets.push((f64::INFINITY, stats.batches.saturating_sub(below)));
        let mut metric = encoder.encode_descriptor(
            "token_writer_batch_size",
            "Issuances per commit of the token writer",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<NoLabelSet>(
            stats.batched_issuances as f64,
            stats.batches,
            &buckets,
            None,
        )
    }
}
