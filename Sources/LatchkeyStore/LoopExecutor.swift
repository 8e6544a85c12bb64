import NIOCore

/// Runs the jobs of tasks that prefer it on one event loop's thread: the SQLite writer's, or a PostgreSQL
/// transaction's connection's. A statement's answer arrives on that thread, and the task goes on there at once,
/// where a task on the shared pool would wait for one of its threads to be woken for each statement.
final class LoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
