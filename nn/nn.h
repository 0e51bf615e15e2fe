#pragma once
// The nn namespace: modules (layers) and their functional forms.
#include "nn/functional.h"
