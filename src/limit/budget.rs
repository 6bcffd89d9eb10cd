//! A byte budget for request data in flight: each request reserves what its
//! body will cost (wire bytes, inflated bytes, Kafka records) before it is
//! read, and gets 503 at once when the budget is spent.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget granularity: permits are KiB.
const UNIT: usize = 1024;

/// How much memory one body byte costs while a request is served: the wire
/// bytes plus the record buffer (envelope with the body, and each event).
pub const COST_PER_BODY_BYTE: usize = 3;

#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total: u32,
}

/// Memory reserved by one request; released when dropped.
#[derive(Debug)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

impl MemoryBudget {
    pub fn new(bytes: usize) -> Self {
        let total = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .min(u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX))
            .max(1);
        Self {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    fn units(&self, bytes: usize) -> u32 {
        // A request larger than the whole budget may still run when nothing
        // else does.
        u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total)
    }

    /// Reserves `bytes`, or `None` when the budget cannot cover them now.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        let permit = Arc::clone(&self.permits)
            .try_acquire_many_owned(self.units(bytes))
            .ok()?;
        Some(Reservation {
            permit: Some(permit),
        })
    }

    /// Adds `bytes` to an existing reservation (e.g. once gzip is inflated).
    pub fn try_grow(&self, reservation: &mut Reservation, bytes: usize) -> bool {
        let held = reservation
            .permit
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits);
        let want = self.units(bytes).min(
            self.total
                .saturating_sub(u32::try_from(held).unwrap_or(u32::MAX)),
        );
        if want == 0 {
            return true;
        }
        match Arc::clone(&self.permits).try_acquire_many_owned(want) {
            Ok(more) => {
                match &mut reservation.permit {
                    Some(p) => p.merge(more),
                    None => reservation.permit = Some(more),
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Bytes currently available.
    pub fn available(&self) -> usize {
        self.permits.available_permits() * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_released_on_drop() {
        let budget = MemoryBudget::new(10 * UNIT);
        let a = budget.try_reserve(6 * UNIT).expect("fits");
        assert!(budget.try_reserve(5 * UNIT).is_none(), "over budget");
        let b = budget.try_reserve(4 * UNIT).expect("fits exactly");
        drop(a);
        assert_eq!(budget.available(), 6 * UNIT);
        drop(b);
        assert_eq!(budget.available(), 10 * UNIT);
    }

    #[test]
    fn a_request_larger_than_the_budget_runs_alone() {
        let budget = MemoryBudget::new(4 * UNIT);
        let big = budget
            .try_reserve(100 * UNIT)
            .expect("capped at the whole budget");
        assert!(budget.try_reserve(1).is_none());
        drop(big);
        assert!(budget.try_reserve(1).is_some());
    }

    #[test]
    fn growing_a_reservation() {
        let budget = MemoryBudget::new(10 * UNIT);
        let mut r = budget.try_reserve(2 * UNIT).expect("fits");
        assert!(budget.try_grow(&mut r, 7 * UNIT));
        assert_eq!(budget.available(), UNIT);
        let other = budget.try_reserve(UNIT).expect("the last unit");
        assert!(!budget.try_grow(&mut r, UNIT), "nothing left to grow into");
        drop(other);
        // Growth past the whole budget is capped at it (the request then runs alone).
        assert!(budget.try_grow(&mut r, 100 * UNIT));
        assert_eq!(budget.available(), 0);
        drop(r);
        assert_eq!(budget.available(), 10 * UNIT);
    }
}
