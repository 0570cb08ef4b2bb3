;; A wasip1 core module using pod IPC through the `wasmpod_ipc` imports:
;; receives one message from the queue "to-module" and sends it back on
;; "from-module", then checks that a non-blocking receive on the now empty
;; queue reports would-block (5). Any other failure exits with 10 + the
;; result code, so the test sees which call failed.
(module
  (import "wasmpod_ipc" "queue_open" (func $queue_open (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasmpod_ipc" "queue_receive" (func $queue_receive (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasmpod_ipc" "queue_send" (func $queue_send (param i32 i32 i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "to-module")
  (data (i32.const 16) "from-module")
  ;; 64: handle of to-module, 68: handle of from-module, 72: received length,
  ;; 1024..5120: message buffer.
  (func $check (param $rc i32)
    (if (local.get $rc) (then (call $proc_exit (i32.add (i32.const 10) (local.get $rc))))))
  (func (export "_start")
    ;; Open (creating, as the toolbox's `ipc` does: 256 x 64 KiB).
    (call $check (call $queue_open (i32.const 0) (i32.const 9) (i32.const 256) (i32.const 65536) (i32.const 64)))
    (call $check (call $queue_open (i32.const 16) (i32.const 11) (i32.const 256) (i32.const 65536) (i32.const 68)))
    ;; Wait as long as it takes (negative timeout) for the component's message.
    (call $check (call $queue_receive (i32.load (i32.const 64)) (i32.const 1024) (i32.const 4096) (i64.const -1) (i32.const 72)))
    (call $check (call $queue_send (i32.load (i32.const 68)) (i32.const 1024) (i32.load (i32.const 72)) (i64.const -1)))
    ;; Timeout 0: do not wait; the queue is empty, so would-block (5).
    (if (i32.ne (call $queue_receive (i32.load (i32.const 64)) (i32.const 1024) (i32.const 4096) (i64.const 0) (i32.const 72)) (i32.const 5))
      (then (call $proc_exit (i32.const 9))))))
