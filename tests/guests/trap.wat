;; A wasip1 module that traps, as a panicking Rust guest does.
(module
  (memory (export "memory") 1)
  (func (export "_start") unreachable))
