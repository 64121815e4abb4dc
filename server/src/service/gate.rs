//! Bounds on the password checks one address, and one account, can have in flight.
//!
//! The throttle counts every attempt before its password is checked, so that parallel
//! guesses are counted like serial ones. Without a bound on what is in flight, that count
//! also held correct sign-ins still being checked: thirty colleagues behind one office
//! address signing in at 9 a.m. were, for a moment, thirty "failures" of that address, and
//! half of them were refused. The gate holds the attempts beyond a small number per address
//! (and per account) in a queue instead: they are counted, and checked, in turn. An address
//! then never has more than [`GateLimits::per_address`] uncounted outcomes at once, far
//! below its throttle allowance, while parallel guessing gains nothing over serial.
//!
//! The queue is bounded too, so no one address or account can park unbounded work (each
//! queued attempt holds a request, and each check is an Argon2 hash: tens of milliseconds
//! of CPU and ~19 MiB). Beyond it, attempts are refused at once as busy: "too many at once",
//! not "failed". The bounds are per instance: N instances admit N times as many.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many checks may run, and how many may wait, per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateLimits {
    /// Checks in flight from one address (IPv4, or IPv6 /64).
    pub per_address: usize,
    /// Checks in flight against one account (or one unknown name).
    pub per_account: usize,
    /// Attempts that may wait behind those, per address.
    pub address_queue: usize,
    /// Attempts that may wait, per account.
    pub account_queue: usize,
}

impl Default for GateLimits {
    /// Eight checks in flight per address stay far below the address's twenty free
    /// throttle counts; a queue of 512 holds a large office's morning, and takes a few
    /// seconds to drain at Argon2's pace. One account needs no more than two at once.
    fn default() -> Self {
        Self {
            per_address: 8,
            per_account: 2,
            address_queue: 512,
            account_queue: 16,
        }
    }
}

/// Too many attempts from this address, or against this account, are already waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many checks in progress")]
pub struct Busy;

#[derive(Debug)]
pub struct CheckGate {
    limits: GateLimits,
    slots: Mutex<HashMap<String, Slot>>,
}

#[derive(Debug)]
struct Slot {
    semaphore: Arc<Semaphore>,
    /// Attempts holding or waiting for a permit: the slot goes when it reaches zero.
    entered: usize,
}

/// Permission to check one password; the places it holds are given back when dropped.
#[derive(Debug)]
pub struct Pass {
    gate: Arc<CheckGate>,
    keys: Vec<String>,
    permits: Vec<OwnedSemaphorePermit>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.permits.clear();
        self.gate.leave(&self.keys);
    }
}

impl CheckGate {
    pub fn new(limits: GateLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for a place to check a password for `account` from `address` (both as the
    /// throttle names them). Every caller takes the address first, then the account, so
    /// two attempts can never each hold what the other waits for.
    pub async fn enter(self: &Arc<Self>, address: &str, account: &str) -> Result<Pass, Busy> {
        let keys = [
            (
                format!("address:{address}"),
                self.limits.per_address,
                self.limits.address_queue,
            ),
            (
                format!("account:{account}"),
                self.limits.per_account,
                self.limits.account_queue,
            ),
        ];
        let mut pass = Pass {
            gate: self.clone(),
            keys: Vec::with_capacity(keys.len()),
            permits: Vec::with_capacity(keys.len()),
        };
        let mut semaphores = Vec::with_capacity(keys.len());
        for (key, running, queue) in keys {
            // The lock is never held across an await.
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(key.clone()).or_insert_with(|| Slot {
                semaphore: Arc::new(Semaphore::new(running)),
                entered: 0,
            });
            if slot.entered >= running + queue {
                // Dropping `pass` gives back the keys already entered.
                return Err(Busy);
            }
            slot.entered += 1;
            semaphores.push(slot.semaphore.clone());
            drop(slots);
            pass.keys.push(key);
        }
        for semaphore in semaphores {
            // The semaphores are never closed.
            let permit = semaphore.acquire_owned().await.map_err(|_| Busy)?;
            pass.permits.push(permit);
        }
        Ok(pass)
    }

    fn leave(&self, keys: &[String]) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if let Some(slot) = slots.get_mut(key) {
                slot.entered -= 1;
                if slot.entered == 0 {
                    slots.remove(key);
                }
            }
        }
    }

    /// How many keys have attempts in flight or waiting.
    #[cfg(test)]
    fn busy_keys(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn gate(per_address: usize, address_queue: usize) -> Arc<CheckGate> {
        CheckGate::new(GateLimits {
            per_address,
            per_account: 2,
            address_queue,
            account_queue: 2,
        })
    }

    #[tokio::test]
    async fn attempts_beyond_the_bound_wait_their_turn() {
        let gate = gate(2, 10);
        let first = gate.enter("203.0.113.1", "u:1").await.unwrap();
        let _second = gate.enter("203.0.113.1", "u:2").await.unwrap();
        let third = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter("203.0.113.1", "u:3").await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!third.is_finished(), "a third check from the address waits");
        drop(first);
        third.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_as_busy_and_everything_is_given_back() {
        let gate = gate(1, 1);
        let holder = gate.enter("198.51.100.7", "u:1").await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter("198.51.100.7", "u:2").await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.enter("198.51.100.7", "u:3").await.unwrap_err(), Busy);
        // Another address is not held up by this one.
        drop(gate.enter("192.0.2.1", "u:3").await.unwrap());
        drop(holder);
        waiter.await.unwrap().unwrap();
        assert_eq!(gate.busy_keys(), 0, "no slot outlives its last attempt");
    }

    #[tokio::test]
    async fn one_account_has_at_most_its_own_bound_in_flight_from_anywhere() {
        let gate = gate(8, 8);
        let _a = gate.enter("192.0.2.1", "u:9").await.unwrap();
        let _b = gate.enter("192.0.2.2", "u:9").await.unwrap();
        let third = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter("192.0.2.3", "u:9").await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!third.is_finished());
        third.abort();
    }
}
