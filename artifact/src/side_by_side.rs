//! Work on several threads at once: a layer's frames, a layer hashed while it unpacks, the
//! units of a program (unpacking them, merging them into its view; a unit is mostly one
//! zstd frame and one small tree, so what one deps layer spread over the cores by frames,
//! units spread by unit), a cached version checked while the server is asked.
//!
//! This thread always takes part, and a thread that cannot start (a process limit) leaves
//! its share to the others: `Scope::spawn` would panic there, and the launcher aborts on a
//! panic.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Most threads used: the cores of a small machine, and no more files open at once than
/// four extractions or merges need.
const THREADS: usize = 4;

/// `f` of every item, on up to [`THREADS`] threads, the results in the items' order; after
/// a failure no item is started, and the error of the first item that failed is returned.
pub fn map<T, R, E>(items: &[T], f: impl Fn(&T) -> Result<R, E> + Sync) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let done: Vec<Mutex<Option<Result<R, E>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(THREADS)
        .min(items.len());
    run(threads, || {
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let result = f(item);
            failed.fetch_or(result.is_err(), Ordering::Relaxed);
            *done[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        }
    });
    // Items never started (after a failure) are `None`.
    let mut out = Vec::with_capacity(items.len());
    let mut first_error = None;
    for slot in done {
        match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(r)) => out.push(r),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `work` on this thread and on up to `threads - 1` more, until every one returns.
pub fn run(threads: usize, work: impl Fn() + Sync) {
    std::thread::scope(|s| {
        for _ in 1..threads {
            if std::thread::Builder::new().spawn_scoped(s, &work).is_err() {
                break;
            }
        }
        work();
    });
}

/// `a()` and `b()` at once: `a` on a second thread, or after `b` where none can start.
pub fn both<A: Send, B>(a: impl Fn() -> A + Sync, b: impl FnOnce() -> B) -> (B, A) {
    std::thread::scope(|s| match std::thread::Builder::new().spawn_scoped(s, &a) {
        Ok(thread) => {
            let b = b();
            let a = thread
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (b, a)
        }
        Err(_) => (b(), a()),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_in_order_and_the_first_error() {
        let items: Vec<u32> = (0..50).collect();
        assert_eq!(
            super::map(&items, |i| Ok::<_, ()>(i * 2)).unwrap(),
            (0..100).step_by(2).collect::<Vec<_>>()
        );
        let err = super::map(&items, |&i| if i == 7 || i == 9 { Err(i) } else { Ok(i) });
        assert!(matches!(err, Err(7 | 9)));
    }
}
