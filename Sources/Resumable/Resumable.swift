// The umbrella module: `import Resumable` brings the whole library.
@_exported public import CheckpointStore
@_exported public import DurableFiles
@_exported public import JSON
@_exported public import SafeTensors
@_exported public import Supervisor
@_exported public import Training
@_exported public import Pipelines
@_exported public import Sweeps
@_exported public import ResultCache
