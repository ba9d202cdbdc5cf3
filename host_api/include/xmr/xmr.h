#pragma once
/// \file
/// Umbrella header: the whole public C++ API of xmr.

#include "xmr/binarize.h"
#include "xmr/binary_index.h"
#include "xmr/collection.h"
#include "xmr/dense_index.h"
#include "xmr/error.h"
#include "xmr/eval.h"
#include "xmr/index_file.h"
#include "xmr/matrix_view.h"
#include "xmr/multi_vector_index.h"
#include "xmr/pipeline.h"
#include "xmr/resources.h"
#include "xmr/synthetic.h"
#include "xmr/testing.h"
#include "xmr/types.h"
#include "xmr/version.h"
