#loc1 = loc("x")
#loc2 = loc("seq")
#loc7 = loc("reduce_window_sum")
#loc10 = loc("reduce_window_max")
#loc11 = loc("reduce_window_min")
#loc13 = loc("reduce_window_sum:"(#loc7))
#loc14 = loc("reduce_window_max:"(#loc10))
#loc15 = loc("reduce_window_min:"(#loc11))
module @jit_pooling attributes {jax.uses_shape_polymorphism = false, mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<2x7x9x3xf32> loc("x"), %arg1: tensor<2x10x3xf32> loc("seq")) -> (tensor<2x4x5x3xf32> {jax.result_info = "result[0]"}, tensor<2x4x5x3xf32> {jax.result_info = "result[1]"}, tensor<2x7x5x3xf32> {jax.result_info = "result[2]"}, tensor<2x5x3xf32> {jax.result_info = "result[3]"}, tensor<2x14x4x3xf32> {jax.result_info = "result[4]"}, tensor<2x3x3xf32> {jax.result_info = "result[5]"}, tensor<2x18x3xf32> {jax.result_info = "result[6]"}) {
    %cst = stablehlo.constant dense<-1.000000e+00> : tensor<f32> loc(#loc3)
    %cst_0 = stablehlo.constant dense<0x7F800000> : tensor<f32> loc(#loc4)
    %cst_1 = stablehlo.constant dense<0xFF800000> : tensor<f32> loc(#loc5)
    %cst_2 = stablehlo.constant dense<1.000000e+00> : tensor<f32> loc(#loc)
    %cst_3 = stablehlo.constant dense<9.000000e+00> : tensor<f32> loc(#loc3)
    %cst_4 = stablehlo.constant dense<0.000000e+00> : tensor<f32> loc(#loc)
    %0 = stablehlo.broadcast_in_dim %cst_4, dims = [] : (tensor<f32>) -> tensor<f32> loc(#loc6)
    %1 = "stablehlo.reduce_window"(%arg0, %0) <{padding = dense<[[0, 0], [1, 1], [1, 1], [0, 0]]> : tensor<4x2xi64>, window_dimensions = array<i64: 1, 3, 3, 1>, window_strides = array<i64: 1, 2, 2, 1>}> ({
    ^bb0(%arg2: tensor<f32> loc("reduce_window_sum:"(#loc7)), %arg3: tensor<f32> loc("reduce_window_sum:"(#loc7))):
      %25 = stablehlo.add %arg2, %arg3 : tensor<f32> loc(#loc6)
      stablehlo.return %25 : tensor<f32> loc(#loc6)
    }) : (tensor<2x7x9x3xf32>, tensor<f32>) -> tensor<2x4x5x3xf32> loc(#loc6)
    %2 = stablehlo.broadcast_in_dim %cst_3, dims = [] : (tensor<f32>) -> tensor<2x4x5x3xf32> loc(#loc8)
    %3 = stablehlo.divide %1, %2 : tensor<2x4x5x3xf32> loc(#loc8)
    %4 = stablehlo.broadcast_in_dim %cst_4, dims = [] : (tensor<f32>) -> tensor<f32> loc(#loc6)
    %5 = "stablehlo.reduce_window"(%arg0, %4) <{padding = dense<[[0, 0], [1, 1], [1, 1], [0, 0]]> : tensor<4x2xi64>, window_dimensions = array<i64: 1, 3, 3, 1>, window_strides = array<i64: 1, 2, 2, 1>}> ({
    ^bb0(%arg2: tensor<f32> loc("reduce_window_sum:"(#loc7)), %arg3: tensor<f32> loc("reduce_window_sum:"(#loc7))):
      %25 = stablehlo.add %arg2, %arg3 : tensor<f32> loc(#loc6)
      stablehlo.return %25 : tensor<f32> loc(#loc6)
    }) : (tensor<2x7x9x3xf32>, tensor<f32>) -> tensor<2x4x5x3xf32> loc(#loc6)
    %6 = stablehlo.broadcast_in_dim %cst_2, dims = [] : (tensor<f32>) -> tensor<1x7x9x1xf32> loc(#loc9)
    %7 = stablehlo.broadcast_in_dim %cst_4, dims = [] : (tensor<f32>) -> tensor<f32> loc(#loc6)
    %8 = "stablehlo.reduce_window"(%6, %7) <{padding = dense<[[0, 0], [1, 1], [1, 1], [0, 0]]> : tensor<4x2xi64>, window_dimensions = array<i64: 1, 3, 3, 1>, window_strides = array<i64: 1, 2, 2, 1>}> ({
    ^bb0(%arg2: tensor<f32> loc("reduce_window_sum:"(#loc7)), %arg3: tensor<f32> loc("reduce_window_sum:"(#loc7))):
      %25 = stablehlo.add %arg2, %arg3 : tensor<f32> loc(#loc6)
      stablehlo.return %25 : tensor<f32> loc(#loc6)
    }) : (tensor<1x7x9x1xf32>, tensor<f32>) -> tensor<1x4x5x1xf32> loc(#loc6)
    %9 = stablehlo.broadcast_in_dim %8, dims = [0, 1, 2, 3] : (tensor<1x4x5x1xf32>) -> tensor<2x4x5x3xf32> loc(#loc8)
    %10 = stablehlo.divide %5, %9 : tensor<2x4x5x3xf32> loc(#loc8)
    %11 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f32>) -> tensor<f32> loc(#loc5)
    %12 = "stablehlo.reduce_window"(%arg0, %11) <{padding = dense<[[0, 0], [1, 1], [0, 1], [0, 0]]> : tensor<4x2xi64>, window_dimensions = array<i64: 1, 3, 2, 1>, window_strides = array<i64: 1, 1, 2, 1>}> ({
    ^bb0(%arg2: tensor<f32> loc("reduce_window_max:"(#loc10)), %arg3: tensor<f32> loc("reduce_window_max:"(#loc10))):
      %25 = stablehlo.maximum %arg2, %arg3 : tensor<f32> loc(#loc5)
      stablehlo.return %25 : tensor<f32> loc(#loc5)
    }) : (tensor<2x7x9x3xf32>, tensor<f32>) -> tensor<2x7x5x3xf32> loc(#loc5)
    %13 = stablehlo.broadcast_in_dim %cst_4, dims = [] : (tensor<f32>) -> tensor<f32> loc(#loc6)
    %14 = "stablehlo.reduce_window"(%arg1, %13) <{padding = dense<[[0, 0], [2, 1], [0, 0]]> : tensor<3x2xi64>, window_dimensions = array<i64: 1, 4, 1>, window_strides = array<i64: 1, 2, 1>}> ({
    ^bb0(%arg2: tensor<f32> loc("reduce_window_sum:"(#loc7)), %arg3: tensor<f32> loc("reduce_window_sum:"(#loc7))):
      %25 = stablehlo.add %arg2, %arg3 : tensor<f32> loc(#loc6)
      stablehlo.return %25 : tensor<f32> loc(#loc6)
    }) : (tensor<2x10x3xf32>, tensor<f32>) -> tensor<2x5x3xf32> loc(#loc6)
    %15 = stablehlo.broadcast_in_dim %cst_2, dims = [] : (tensor<f32>) -> tensor<1x10x1xf32> loc(#loc9)
    %16 = stablehlo.broadcast_in_dim %cst_4, dims = [] : (tensor<f32>) -> tensor<f32> loc(#loc6)
    %17 = "stablehlo.reduce_window"(%15, %16) <{padding = dense<[[0, 0], [2, 1], [0, 0]]> : tensor<3x2xi64>, window_dimensions = array<i64: 1, 4, 1>, window_strides = array<i64: 1, 2, 1>}> ({
    ^bb0(%arg2: tensor<f32> loc("reduce_window_sum:"(#loc7)), %arg3: tensor<f32> loc("reduce_window_sum:"(#loc7))):
      %25 = stablehlo.add %arg2, %arg3 : tensor<f32> loc(#loc6)
      stablehlo.return %25 : tensor<f32> loc(#loc6)
    }) : (tensor<1x10x1xf32>, tensor<f32>) -> tensor<1x5x1xf32> loc(#loc6)
    %18 = stablehlo.broadcast_in_dim %17, dims = [0, 1, 2] : (tensor<1x5x1xf32>) -> tensor<2x5x3xf32> loc(#loc8)
    %19 = stablehlo.divide %14, %18 : tensor<2x5x3xf32> loc(#loc8)
    %20 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f32>) -> tensor<f32> loc(#loc4)
    %21 = "stablehlo.reduce_window"(%arg0, %20) <{base_dilations = array<i64: 1, 2, 1, 1>, padding = dense<[[0, 0], [1, 1], [0, 1], [0, 0]]> : tensor<4x2xi64>, window_dilations = array<i64: 1, 1, 2, 1>, window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 1, 2, 1>}> ({
    ^bb0(%arg2: tensor<f32> loc("reduce_window_min:"(#loc11)), %arg3: tensor<f32> loc("reduce_window_min:"(#loc11))):
      %25 = stablehlo.minimum %arg2, %arg3 : tensor<f32> loc(#loc4)
      stablehlo.return %25 : tensor<f32> loc(#loc4)
    }) : (tensor<2x7x9x3xf32>, tensor<f32>) -> tensor<2x14x4x3xf32> loc(#loc4)
    %22 = stablehlo.broadcast_in_dim %cst_4, dims = [] : (tensor<f32>) -> tensor<f32> loc(#loc6)
    %23 = "stablehlo.reduce_window"(%arg1, %22) <{window_dilations = array<i64: 1, 2, 1>, window_dimensions = array<i64: 1, 3, 1>, window_strides = array<i64: 1, 2, 1>}> ({
    ^bb0(%arg2: tensor<f32> loc("reduce_window_sum:"(#loc7)), %arg3: tensor<f32> loc("reduce_window_sum:"(#loc7))):
      %25 = stablehlo.add %arg2, %arg3 : tensor<f32> loc(#loc6)
      stablehlo.return %25 : tensor<f32> loc(#loc6)
    }) : (tensor<2x10x3xf32>, tensor<f32>) -> tensor<2x3x3xf32> loc(#loc6)
    %24 = stablehlo.pad %arg1, %cst, low = [0, 2, -1], high = [0, -3, 1], interior = [0, 1, 0] : (tensor<2x10x3xf32>, tensor<f32>) -> tensor<2x18x3xf32> loc(#loc12)
    return %3, %10, %12, %19, %21, %23, %24 : tensor<2x4x5x3xf32>, tensor<2x4x5x3xf32>, tensor<2x7x5x3xf32>, tensor<2x5x3xf32>, tensor<2x14x4x3xf32>, tensor<2x3x3xf32>, tensor<2x18x3xf32> loc(#loc3)
  } loc(#loc)
} loc(#loc)
#loc = loc(unknown)
#loc3 = loc("jit(pooling)")
#loc4 = loc("jit(pooling)/reduce_window_min")
#loc5 = loc("jit(pooling)/reduce_window_max")
#loc6 = loc("jit(pooling)/reduce_window_sum")
#loc8 = loc("jit(pooling)/div")
#loc9 = loc("jit(pooling)/broadcast_in_dim")
#loc12 = loc("jit(pooling)/pad")
