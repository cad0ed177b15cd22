/// A dense `Float` tensor held in one contiguous array, row-major.
///
/// Training code reads and writes `values` directly (or through
/// `withUnsafeMutableBufferPointer` in hot loops); checkpoints store it as a
/// safetensors `F32` tensor of the same shape.
public struct Tensor: Sendable, Hashable {
    /// The dimensions.
    public var shape: [Int]
    /// The elements, row-major; `values.count` is the product of `shape`.
    public var values: [Float]

    /// A tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.shape = shape
        self.values = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor from its elements. It is a programmer error for `values.count`
    /// to differ from the product of `shape`.
    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }

    /// The number of elements.
    public var count: Int { values.count }
}

/// Named tensors in a fixed order: a model's parameters, or one optimizer
/// slot (Adam's first moments) keyed like the parameters.
///
/// Hot loops index `tensors` by position (no hashing, mutation in place);
/// checkpoints use the names.
public struct TensorSet: Sendable, Hashable {
    /// The names, in the order they were added (and are written).
    public private(set) var names: [String] = []
    /// The tensors, in the order of `names`. Change their values freely; it is
    /// a programmer error to add or remove elements here (use the subscript).
    public var tensors: [Tensor] = []
    private var positions: [String: Int] = [:]

    /// An empty set.
    public init() {}

    /// A set holding `tensors` in the given order.
    public init(_ tensors: [(String, Tensor)]) {
        for (name, tensor) in tensors { self[name] = tensor }
    }

    /// The position of `name` in `tensors`, or `nil`.
    public func position(of name: String) -> Int? { positions[name] }

    /// The tensor named `name`; setting a new name appends it, setting `nil` removes it.
    public subscript(name: String) -> Tensor? {
        get { positions[name].map { tensors[$0] } }
        set {
            if let newValue {
                if let i = positions[name] {
                    tensors[i] = newValue
                } else {
                    positions[name] = names.count
                    names.append(name)
                    tensors.append(newValue)
                }
            } else if let i = positions.removeValue(forKey: name) {
                names.remove(at: i)
                tensors.remove(at: i)
                for (k, v) in positions where v > i { positions[k] = v - 1 }
            }
        }
    }

    /// The number of tensors.
    public var count: Int { names.count }

    /// The total number of elements.
    public var elementCount: Int { tensors.reduce(0) { $0 + $1.count } }

    /// A set of zeros shaped like this one (an optimizer slot).
    public func zerosLike() -> TensorSet {
        TensorSet(zip(names, tensors).map { ($0, Tensor(shape: $1.shape)) })
    }

    public static func == (a: TensorSet, b: TensorSet) -> Bool { a.names == b.names && a.tensors == b.tensors }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(names)
        hasher.combine(tensors)
    }
}
