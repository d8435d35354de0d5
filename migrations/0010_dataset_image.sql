-- 0010_dataset_image: a dataset's image shape (height x width x channels, channels of a pixel
-- side by side), set for IDX image uploads, declared on upload (?image=HxWxC) or by PATCH.
-- All three are NULL for a dataset that is not an image dataset, else all three are >= 1.
ALTER TABLE datasets ADD COLUMN image_height INTEGER CHECK (image_height >= 1);
ALTER TABLE datasets ADD COLUMN image_width INTEGER CHECK (image_width >= 1);
ALTER TABLE datasets ADD COLUMN image_channels INTEGER CHECK (image_channels >= 1);
