package reference

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// GoldenInput is one published golden input of a model.
type GoldenInput struct {
	// Name is the case name, e.g. "case-000".
	Name string
	// Description says what the input is, for the manifest and for people.
	Description string
	// Inputs are keyed by input name; floating inputs are FP32 (the FP64
	// sets widen them exactly).
	Inputs map[string]numerics.Tensor
}

// imageKind generates one 28×28 image, drawing from r when it needs to.
type imageKind struct {
	name string
	fill func(r *weightgen.SplitMix64, img []float32)
}

// unit24 returns a draw as a float32 in [0,1) with 24 random bits:
// (x>>40)·2^-24, exact in float32.
func unit24(r *weightgen.SplitMix64) float32 {
	return float32(r.Uint64()>>40) * 0x1p-24
}

var (
	zerosImage = imageKind{"all-zero image", func(_ *weightgen.SplitMix64, img []float32) {
		clear(img)
	}}
	onesImage = imageKind{"saturated image of all 1s", func(_ *weightgen.SplitMix64, img []float32) {
		for i := range img {
			img[i] = 1
		}
	}}
	checkerImage = imageKind{"checkerboard, pixel (h,w) = (h+w) mod 2", func(_ *weightgen.SplitMix64, img []float32) {
		for i := range img {
			img[i] = float32((i/cnnSide + i%cnnSide) % 2)
		}
	}}
	gradientImage = imageKind{"gradient, pixel (h,w) = (28h+w)/783", func(_ *weightgen.SplitMix64, img []float32) {
		for i := range img {
			img[i] = float32(i) / float32(cnnSide*cnnSide-1)
		}
	}}
	uniformImage = imageKind{"uniform random pixels in [0,1)", func(r *weightgen.SplitMix64, img []float32) {
		for i := range img {
			img[i] = unit24(r)
		}
	}}
	bytesImage = imageKind{"unnormalised pixel bytes: random integers 0…255", func(r *weightgen.SplitMix64, img []float32) {
		for i := range img {
			img[i] = float32(r.Uint64() >> 56)
		}
	}}
	signedImage = imageKind{"uniform random pixels in [-1,1)", func(r *weightgen.SplitMix64, img []float32) {
		for i := range img {
			img[i] = 2*unit24(r) - 1
		}
	}}
	sparseImage = imageKind{"sparse: about 15% of pixels uniform in [0,1), the rest 0", func(r *weightgen.SplitMix64, img []float32) {
		for i := range img {
			on, v := unit24(r), unit24(r)
			if on < 0.15 {
				img[i] = v
			} else {
				img[i] = 0
			}
		}
	}}
	negativeImage = imageKind{"negative pixels: −p with p uniform in [0,1)", func(r *weightgen.SplitMix64, img []float32) {
		for i := range img {
			img[i] = -unit24(r)
		}
	}}
	tinyImage = imageKind{"tiny pixels: p·1e-6 with p uniform in [0,1)", func(r *weightgen.SplitMix64, img []float32) {
		for i := range img {
			img[i] = float32(float64(unit24(r)) * 1e-6)
		}
	}}
)

// pixelImage is an image of zeros with one pixel (h,w) at 1.
func pixelImage(h, w int) imageKind {
	return imageKind{fmt.Sprintf("single bright pixel: (%d,%d) = 1, the rest 0", h, w), func(_ *weightgen.SplitMix64, img []float32) {
		clear(img)
		img[h*cnnSide+w] = 1
	}}
}

// cnnGoldenBatches lists the images of each seed-cnn golden case in order.
func cnnGoldenBatches() [][]imageKind {
	u := uniformImage
	cases := [][]imageKind{
		{zerosImage},
		{onesImage},
		{checkerImage},
		{gradientImage},
		{bytesImage},
		{signedImage},
		{sparseImage},
	}
	for range 8 {
		cases = append(cases, []imageKind{u})
	}
	cases = append(cases,
		[]imageKind{u, u, u, u, u, u, u, u},
		[]imageKind{u, u, u, u, u, u, u, u},
		[]imageKind{zerosImage, onesImage, checkerImage, gradientImage, u, u, u, u},
		[]imageKind{u, u, u},
		[]imageKind{sparseImage, signedImage},
	)
	// Cases 20 onwards: bright pixels in the corners (where the padding
	// matters most) and the centre, inputs outside [0,1), and more batches
	// of 8.
	const last = cnnSide - 1
	corners := []imageKind{pixelImage(0, 0), pixelImage(0, last), pixelImage(last, 0), pixelImage(last, last)}
	cases = append(cases,
		corners[:1], corners[1:2], corners[2:3], corners[3:],
		[]imageKind{pixelImage(cnnSide/2, cnnSide/2)},
		[]imageKind{negativeImage},
		[]imageKind{tinyImage},
		[]imageKind{u, u, u, u, u, u, u, u},
		[]imageKind{u, u, u, u, u, u, u, u},
		append(slices.Clone(corners), negativeImage, tinyImage, zerosImage, onesImage),
		[]imageKind{checkerImage, gradientImage, bytesImage, signedImage, sparseImage, u, negativeImage, tinyImage},
		[]imageKind{sparseImage, sparseImage, sparseImage, sparseImage, sparseImage, sparseImage, sparseImage, sparseImage},
		[]imageKind{u, u, u, u, u, u, u, u},
	)
	return cases
}

// GoldenInputs returns the published golden inputs of a model, generated
// deterministically: case i is named fmt.Sprintf("case-%03d", i) and draws
// its random values, in batch order, from the weightgen stream named
// "goldens/<model>/<case>" under weightgen.Seed (SplitMix64 seeded by
// FNV-1a-64 of "aiconform/v1/goldens/seed-cnn/case-007", say). A uniform
// value in [0,1) is (x>>40)·2^-24 for a draw x (exact in FP32), a signed one
// in [-1,1) 2p−1 of such a p. See cnnGoldenInputs, rnnGoldenInputs and
// tfGoldenInputs for each model's cases.
func GoldenInputs(modelID string) ([]GoldenInput, error) {
	r, err := lookup(modelID)
	if err != nil {
		return nil, err
	}
	return r.goldenInputs(), nil
}

// goldenStream returns the stream of golden case name of model modelID.
func goldenStream(modelID, name string) *weightgen.SplitMix64 {
	return weightgen.Stream(weightgen.Seed, "goldens/"+modelID+"/"+name)
}

// cnnGoldenInputs returns seed-cnn's golden inputs (cnnGoldenBatches): a
// uniform pixel is a value in [0,1), a signed one a value in [-1,1), a
// byte pixel x>>56 for a draw x; a sparse pixel draws p then v and is v
// when p < 0.15, else 0; a negative pixel is −p, a tiny one p·1e-6 rounded
// to FP32.
func cnnGoldenInputs() []GoldenInput {
	const modelID = SeedCNNID
	var out []GoldenInput
	for i, kinds := range cnnGoldenBatches() {
		name := fmt.Sprintf("case-%03d", i)
		r := goldenStream(modelID, name)
		const img = cnnSide * cnnSide
		data := make([]float32, len(kinds)*img)
		names := make([]string, len(kinds))
		for j, k := range kinds {
			k.fill(r, data[j*img:(j+1)*img])
			names[j] = k.name
		}
		out = append(out, GoldenInput{
			Name:        name,
			Description: fmt.Sprintf("batch %d: %s", len(kinds), describeKinds(names)),
			Inputs: map[string]numerics.Tensor{
				"input": numerics.NewF32([]int64{int64(len(kinds)), 1, cnnSide, cnnSide}, data),
			},
		})
	}
	return out
}

// describeKinds describes a golden batch by the names of its items' kinds:
// the one name when every item is of the same kind, else the names in
// batch order joined by "; ".
func describeKinds(names []string) string {
	for _, n := range names {
		if n != names[0] {
			return strings.Join(names, "; ")
		}
	}
	return names[0]
}
